package smarthome

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Intents and commands, named as the public smart-home APIs name them.
const (
	IntentSync       = "action.devices.SYNC"
	IntentQuery      = "action.devices.QUERY"
	IntentExecute    = "action.devices.EXECUTE"
	IntentDisconnect = "action.devices.DISCONNECT"

	CommandGetCameraStream = "action.devices.commands.GetCameraStream"

	DeviceTypeCamera  = "action.devices.types.CAMERA"
	TraitCameraStream = "action.devices.traits.CameraStream"
)

// Request limits.
const (
	MaxRequestBytes = 64 << 10
	maxDevices      = 256
	maxIDLen        = 64
)

// Request is a fulfillment request.
type Request struct {
	RequestID string  `json:"requestId"`
	Inputs    []Input `json:"inputs"`
}

// Input is one intent of a request.
type Input struct {
	Intent  string        `json:"intent"`
	Payload *InputPayload `json:"payload,omitempty"`
}

// InputPayload is what QUERY and EXECUTE carry.
type InputPayload struct {
	Devices  []DeviceRef `json:"devices,omitempty"`
	Commands []Command   `json:"commands,omitempty"`
}

// DeviceRef names a device (a camera).
type DeviceRef struct {
	ID         string          `json:"id"`
	CustomData json.RawMessage `json:"customData,omitempty"`
}

// Command is a set of executions for some devices.
type Command struct {
	Devices   []DeviceRef `json:"devices"`
	Execution []Execution `json:"execution"`
}

// Execution is one command to run.
type Execution struct {
	Command string `json:"command"`
	Params  Params `json:"params"`
}

// Params are GetCameraStream's parameters.
type Params struct {
	StreamToChromecast       bool     `json:"StreamToChromecast"`
	SupportedStreamProtocols []string `json:"SupportedStreamProtocols"`
}

// ErrBadRequest is a request that cannot be decoded or breaks a limit.
var ErrBadRequest = errors.New("malformed fulfillment request")

// DecodeRequest reads a fulfillment request strictly: one JSON object of
// known fields, exactly one input of a known intent, bounded lists and
// IDs.
func DecodeRequest(r io.Reader) (Request, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		return Request{}, ErrBadRequest
	}
	if len(b) > MaxRequestBytes {
		return Request{}, fmt.Errorf("%w: larger than %d bytes", ErrBadRequest, MaxRequestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		return Request{}, fmt.Errorf("%w: %s", ErrBadRequest, jsonProblem(err))
	}
	if dec.More() {
		return Request{}, fmt.Errorf("%w: trailing data", ErrBadRequest)
	}
	if len(req.RequestID) > 128 {
		return Request{}, fmt.Errorf("%w: requestId too long", ErrBadRequest)
	}
	if len(req.Inputs) != 1 {
		return Request{}, fmt.Errorf("%w: exactly one input is expected", ErrBadRequest)
	}
	in := req.Inputs[0]
	switch in.Intent {
	case IntentSync, IntentDisconnect:
	case IntentQuery:
		if in.Payload == nil || len(in.Payload.Devices) == 0 {
			return Request{}, fmt.Errorf("%w: QUERY names no devices", ErrBadRequest)
		}
	case IntentExecute:
		if in.Payload == nil || len(in.Payload.Commands) == 0 {
			return Request{}, fmt.Errorf("%w: EXECUTE has no commands", ErrBadRequest)
		}
	default:
		return Request{}, fmt.Errorf("%w: unknown intent", ErrBadRequest)
	}
	n := 0
	check := func(ds []DeviceRef) error {
		for _, d := range ds {
			n++
			if d.ID == "" || len(d.ID) > maxIDLen || len(d.CustomData) > 1024 || n > maxDevices {
				return fmt.Errorf("%w: bad or too many device IDs", ErrBadRequest)
			}
		}
		return nil
	}
	if in.Payload != nil {
		if err := check(in.Payload.Devices); err != nil {
			return Request{}, err
		}
		if len(in.Payload.Commands) > maxDevices {
			return Request{}, fmt.Errorf("%w: too many commands", ErrBadRequest)
		}
		for _, c := range in.Payload.Commands {
			if err := check(c.Devices); err != nil {
				return Request{}, err
			}
			if len(c.Execution) == 0 || len(c.Execution) > 8 {
				return Request{}, fmt.Errorf("%w: 1 to 8 executions per command", ErrBadRequest)
			}
			for _, e := range c.Execution {
				if len(e.Params.SupportedStreamProtocols) > 8 {
					return Request{}, fmt.Errorf("%w: too many protocols", ErrBadRequest)
				}
			}
		}
	}
	return req, nil
}

// jsonProblem describes a decoding error without echoing input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return "wrong type for " + te.Field
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	return "unexpected field or value"
}
