// Package e2e holds camvault's end-to-end tests: each runs the whole
// system — the server (app.Run on loopback ports, or the real binary),
// real agents and real viewers — and checks one of the promises of the
// design document, one file per promise or theme. There is no code here
// but the tests; run them with
//
//	go test -race -count=1 ./internal/e2e
//
// or a part of them with -run. Tests that need PostgreSQL, NATS, an S3
// server, Chromium or ffmpeg skip unless CAMVAULT_TEST_POSTGRES,
// CAMVAULT_TEST_NATS, CAMVAULT_TEST_VERSITYGW, CAMVAULT_TEST_CHROMIUM or
// ffmpeg on the PATH are there.
package e2e
