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
//	events       the withdrawal bus; natsbus behind it; outbox keeps and polls
//	             withdrawals in the store so a node hears them without the bus
//	placement    which node serves which camera, node reports, commands to
//	             a camera's node; natsplacement (JetStream KV) behind it
//	media        stream hub keyed by (camera, generation); takes Grants; knows no service
//	record       segmenter, encryption, archive (reads take a Grant), recorder
//	             (reads the hub with the grants the service gives)
//	service      use cases: every method takes the principal and asks authz first;
//	             for video it returns Grants, never readers; never imports media
//	live         turns a Grant into a viewer session on the hub; applies withdrawals
//	             from the bus; imports media, authz, domain, events, fault only
//	adapters     api, webui, live/*, integrations/*, oauth, devicehub, ingest, httpserver:
//	             speak protocols, call the service; never the store, blob storage or the archive.
//	             live/* reach the service only through live.Redeemer, never importing it
//	app          wiring: the only package that opens store backends
//	cmd/camvault flags, subcommands
//
// Beside them: agent (on the camera: authn, bitstream, control, videosig,
// clips, domain, ffmpeg, pki only — nothing of the server), and the leaves
// bitstream (H.264/H.265 NAL units, Annex-B, access units: the one reading
// of camera bytes for both ends), control, ffmpeg, pki, authn, serverkey
// (the ring of server keys by ID) and fault (the kinds of error use cases
// return, so adapters can answer them without importing service), which
// import nothing of camvault.
// The end-to-end tests, which run the whole system, live in e2e; the
// other packages' tests test the package (the agent's keep to what the
// agent may import).
package archtest
