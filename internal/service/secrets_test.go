package service

import (
	"bytes"
	"strings"
	"testing"

	"github.com/camvault/camvault/internal/serverkey"
)

func testRing(t *testing.T, current int, ids ...int) *serverkey.Ring {
	t.Helper()
	keys := map[int][]byte{}
	for _, id := range ids {
		keys[id] = bytes.Repeat([]byte{byte(id)}, serverkey.Size)
	}
	r, err := serverkey.New(keys, current)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testBox(t *testing.T, r *serverkey.Ring) *secretBox {
	t.Helper()
	b, err := newSecretBox(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSecretBoxRing: a secret sealed under key 1 opens on a node whose
// ring is {1, 2 current}, one sealed under 2 on a node with {1 current,
// 2} (the mix while a new key becomes current node by node); after
// resealing to the current key, a ring without key 1 opens everything.
func TestSecretBoxRing(t *testing.T) {
	old := testBox(t, testRing(t, 1, 1))
	stepA := testBox(t, testRing(t, 1, 1, 2))
	stepB := testBox(t, testRing(t, 2, 1, 2))
	after := testBox(t, testRing(t, 2, 2))

	v1 := old.seal("rtsp://a", "pull:cam1")
	if !strings.HasPrefix(v1, "v1:") {
		t.Fatalf("key 1 does not seal in the format older servers read: %.8q", v1)
	}
	v2 := stepB.seal("rtsp://b", "pull:cam2")
	if !strings.HasPrefix(v2, "v2:2:") {
		t.Fatalf("a value sealed under key 2 does not name it: %.8q", v2)
	}
	for _, tc := range []struct {
		name   string
		box    *secretBox
		sealed string
		ctx    string
		want   string
	}{
		{"key 1 on {1, 2 current}", stepB, v1, "pull:cam1", "rtsp://a"},
		{"key 2 on {1 current, 2}", stepA, v2, "pull:cam2", "rtsp://b"},
		{"key 2 on {2}", after, v2, "pull:cam2", "rtsp://b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := tc.box.open(tc.sealed, tc.ctx); err != nil || got != tc.want {
				t.Fatalf("%q %v", got, err)
			}
		})
	}
	if _, err := after.open(v1, "pull:cam1"); err == nil {
		t.Fatal("a ring without key 1 opened a value sealed under it")
	}
	if _, err := stepB.open(v1, "pull:cam2"); err == nil {
		t.Fatal("a sealed value opened under another context")
	}

	reseal, err := ResealToCurrent(testRing(t, 2, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	moved, err := reseal(v1, "pull:cam1")
	if err != nil || !strings.HasPrefix(moved, "v2:2:") {
		t.Fatalf("reseal: %.8q %v", moved, err)
	}
	if got, err := after.open(moved, "pull:cam1"); err != nil || got != "rtsp://a" {
		t.Fatalf("resealed value on {2}: %q %v", got, err)
	}
	if same, err := reseal(v2, "pull:cam2"); err != nil || same != v2 {
		t.Fatal("a value under the current key was resealed")
	}
	if _, err := reseal("v2:7:AAAA", "pull:cam1"); err == nil {
		t.Fatal("resealed a value under a key the ring does not hold")
	}
}

// TestSecretBoxMalformed: sealed values that name no key, or a key
// badly, do not open.
func TestSecretBoxMalformed(t *testing.T) {
	b := testBox(t, testRing(t, 2, 1, 2))
	for _, v := range []string{"", "v1", "v1:", "v2:", "v2:2", "v2:x:AAAA", "v2:0:AAAA", "v2:-1:AAAA", "v3:AAAA", "v2:2:!!"} {
		if _, err := b.open(v, "ctx"); err == nil {
			t.Errorf("%q opened", v)
		}
	}
}
