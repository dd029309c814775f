// Package archtest keeps camvault's architecture true. Its tests fail on
// any import that breaks the layering below, and on a package without
// exactly one package doc. This comment is the one statement of the
// layering; the design document points here.
//
// Layers, from the inside out:
//
//	domain       types and invariants; no I/O, no third-party code
//	authz        THE policy, pure; mints Grants (unexported fields); imports domain only
//	authn        passwords, sessions, TOTP, device proofs; no camvault imports
//	store        metadata storage interface; sqlite, postgres, sqlstore behind it
//	blob         object storage interface; localfs, s3 behind it
//	events       the withdrawal bus; natsbus behind it
//	media        stream hub keyed by (camera, generation); takes Grants; knows no service
//	record       segmenter, encryption, archive, recorder
//	service      use cases: every method takes the principal and asks authz first
//	adapters     api, webui, live/*, integrations/*, oauth, devicehub, ingest, httpserver:
//	             speak protocols, call the service; never the store, blob storage or the archive
//	app          wiring: the only package that opens store backends
//	cmd/camvault flags, subcommands
//
// Beside them: agent (on the camera: authn, control, videosig, clips,
// domain, ffmpeg, pki only — nothing of the server), and the leaves
// control, ffmpeg, pki, authn and fault (the kinds of error use cases
// return, so adapters can answer them without importing service), which
// import nothing of camvault. The end-to-end tests, which run the whole
// system, live in e2e; the other packages' tests test the package (the
// agent's keep to what the agent may import).
package archtest
