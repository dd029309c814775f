package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/videosig"
)

const verifyUsage = `Usage: camvault verify --key KEY.pem [--codec h264|h265] FILE

Checks a capture or recording (H.264 or H.265 Annex-B, or an MP4 export or
recorded segment) signed by a camvault camera: which camera and ownership
generation signed which span, and every gap or tampering. KEY.pem is the camera's public key (PEM "PUBLIC KEY"), or
the agent's device-key.pem. The last GOP of a file is never confirmed: its
signature travels at the start of the next one.

Exit status: 0 when everything verified, 1 when something did not.

Flags:
`

func verifyCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, verifyUsage); fs.PrintDefaults() }
	keyFile := fs.String("key", "", "the camera's public key, or its device-key.pem (PEM)")
	codecName := fs.String("codec", "", "h264 or h265 (default: from the file name, else h264)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *keyFile == "" {
		fs.Usage()
		return errUsage
	}
	file := fs.Arg(0)
	keyDER, err := publicKeyDER(*keyFile)
	if err != nil {
		return err
	}
	codec := bitstream.CodecOfFile(file)
	if *codecName != "" {
		var ok bool
		if codec, ok = bitstream.ParseCodec(*codecName); !ok {
			return fmt.Errorf("--codec: %q is not h264 or h265", *codecName)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if record.IsMP4(data) {
		// An export or a recorded segment: back to the camera's stream.
		c, stream, err := record.AnnexB(data)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		codec, data = c, stream
	}
	spans, problems, err := videosig.Report(codec, data, keyDER)
	if err != nil {
		return err
	}
	for _, s := range spans {
		fmt.Fprintf(stdout, "verified: camera %s generation %d, GOPs %d–%d (%d frames), captured %s to %s\n",
			s.Camera, s.Generation, s.FirstSeq, s.LastSeq, s.Frames, s.From.Format(time.RFC3339), s.To.Format(time.RFC3339))
	}
	for _, p := range problems {
		fmt.Fprintf(stdout, "PROBLEM: %s\n", p)
	}
	if len(problems) > 0 {
		return errors.New("the file did not verify")
	}
	return nil
}

// publicKeyDER reads a PEM public key, or derives it from a private key.
func publicKeyDER(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: not PEM", path)
	}
	switch blk.Type {
	case "PUBLIC KEY":
		return blk.Bytes, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: not a signing key", path)
		}
		return x509.MarshalPKIXPublicKey(s.Public())
	}
	return nil, fmt.Errorf("%s: PEM block %q is not a key", path, blk.Type)
}
