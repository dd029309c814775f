// Package e2e holds camvault's end-to-end tests: each runs the whole
// system — the server (app.Run on loopback ports, or the real binary),
// real agents and real viewers — and checks one of the promises of the
// design document. One file per promise or theme:
//
//	strangers, churn              P1, P5: no frame or snapshot of a stranger's camera, under chaos and churn
//	live, viewer_{rtsp,hls,whep,ffmpeg}
//	                              P1, P5: each viewer gets its camera's signed video, and only while allowed
//	secondhand, reconnect         P2: reset, transfer and second-hand cameras start a new ownership epoch
//	revocation, cluster           P2, P4: every withdrawal ends live streams within a second, on every node
//	first_run, pulled_guard       P3: a one-time setup link, TLS rules, pulled cameras kept to their networks
//	integrations, oauth_attacks, display_sim
//	                              P4, P7: smart displays, consent, kill switches, attacks on OAuth
//	hostile_publishers, hostile_rtsp, device_control
//	                              P5, P8: hostile devices and input are refused without harm to others
//	recordings, s3_recording, recording_kill
//	                              P6: sealed recordings, playback and export, crash safety
//	sources, snapshots, snapshots_ffmpeg, pulled_snapshot, capture_device
//	                              the cameras' sources and pictures
//	browser, *_binary, admin_*    the real binary and the web UI in Chromium
//
// The harness is harness_test.go (the server in process, accounts,
// agents), harness_binary_test.go (the binary, which TestMain builds once,
// run as server and agent) and harness_media_test.go (clips, viewers,
// snapshots). Run the tests with
//
//	go test -race -count=1 ./internal/e2e
//
// or a part of them with -run. Tests that need PostgreSQL, NATS, an S3
// server, Chromium or ffmpeg skip unless CAMVAULT_TEST_POSTGRES,
// CAMVAULT_TEST_NATS, CAMVAULT_TEST_VERSITYGW, CAMVAULT_TEST_CHROMIUM or
// ffmpeg on the PATH are there.
package e2e
