package sealed

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"testing"
)

func key() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func seal(t testing.TB, plain, k []byte, chunk int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := NewWriter(&b, k, "camera-key-1", chunk)
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes cross chunk boundaries.
	for p := plain; len(p) > 0; {
		n := min(len(p), 1+mrand.IntN(3*chunk))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func plaintext(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 31 / 7)
	}
	return b
}

// TestRoundTrip: any size, any range, read back exactly; the file holds
// none of the plaintext.
func TestRoundTrip(t *testing.T) {
	const cs = 1024
	k := key()
	for _, n := range []int{0, 1, cs - 1, cs, cs + 1, 3 * cs, 3*cs + 17} {
		plain := plaintext(n)
		file := seal(t, plain, k, cs)
		r, err := NewReader(bytes.NewReader(file), int64(len(file)), k)
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if r.Size() != int64(n) {
			t.Fatalf("size %d: reader says %d", n, r.Size())
		}
		if SealedSize(int64(n), cs) != int64(len(file)) {
			t.Fatalf("size %d: SealedSize says %d, the file is %d", n, SealedSize(int64(n), cs), len(file))
		}
		for range 50 {
			off := mrand.IntN(n + 1)
			l := mrand.IntN(n - off + 10)
			got := make([]byte, l)
			m, err := r.ReadAt(got, int64(off))
			want := plain[off:min(n, off+l)]
			if m != len(want) || !bytes.Equal(got[:m], want) || (m < l && err != io.EOF) || (m == l && err != nil) {
				t.Fatalf("size %d range %d+%d: n=%d err=%v", n, off, l, m, err)
			}
		}
		if n >= 64 && bytes.Contains(file, plain[16:48]) {
			t.Fatalf("size %d: plaintext found in the sealed file", n)
		}
		if id, err := KeyID(bytes.NewReader(file)); err != nil || id != "camera-key-1" {
			t.Fatalf("key ID %q %v", id, err)
		}
	}
}

// TestTampering: every kind of change to a sealed file is caught, and the
// bytes of a chunk that fails are never returned.
func TestTampering(t *testing.T) {
	const cs = 512
	k := key()
	plain := plaintext(4*cs + 100)
	file := seal(t, plain, k, cs)
	stride := cs + overhead
	open := func(b []byte) error {
		r, err := NewReader(bytes.NewReader(b), int64(len(b)), k)
		if err != nil {
			return err
		}
		_, err = r.ReadAt(make([]byte, len(plain)), 0)
		return err
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(file)) }
	for name, b := range map[string][]byte{
		"header byte":   mutate(func(b []byte) []byte { b[50] ^= 1; return b }),
		"chunk size":    mutate(func(b []byte) []byte { b[11] ^= 1; return b }),
		"chunk byte":    mutate(func(b []byte) []byte { b[HeaderSize+stride+7] ^= 0x80; return b }),
		"tag byte":      mutate(func(b []byte) []byte { b[HeaderSize+2*stride-1] ^= 1; return b }),
		"last chunk":    mutate(func(b []byte) []byte { b[len(b)-20] ^= 1; return b }),
		"cut at chunk":  file[:HeaderSize+4*stride],
		"cut mid chunk": file[:HeaderSize+2*stride+100],
		"chunk dropped": append(append([]byte{}, file[:HeaderSize+stride]...), file[HeaderSize+2*stride:]...),
		"chunks swapped": mutate(func(b []byte) []byte {
			c1 := bytes.Clone(b[HeaderSize : HeaderSize+stride])
			copy(b[HeaderSize:], b[HeaderSize+stride:HeaderSize+2*stride])
			copy(b[HeaderSize+stride:], c1)
			return b
		}),
		"empty":       nil,
		"header only": file[:HeaderSize],
	} {
		if err := open(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	// Another file's chunk, sealed with the same data key, does not fit.
	other := seal(t, plain, k, cs)
	spliced := bytes.Clone(file)
	copy(spliced[HeaderSize:HeaderSize+stride], other[HeaderSize:HeaderSize+stride])
	if err := open(spliced); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a chunk of another file: %v", err)
	}
	// Another key opens nothing.
	if _, err := NewReader(bytes.NewReader(file), int64(len(file)), key()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("another key: %v", err)
	}
	// A damaged chunk spoils only its own range.
	b := mutate(func(b []byte) []byte { b[HeaderSize+2*stride+3] ^= 1; return b })
	r, err := NewReader(bytes.NewReader(b), int64(len(b)), k)
	if err != nil {
		t.Fatal(err)
	}
	good := make([]byte, cs)
	if _, err := r.ReadAt(good, 0); err != nil || !bytes.Equal(good, plain[:cs]) {
		t.Fatalf("an intact chunk: %v", err)
	}
	bad := make([]byte, cs)
	if n, err := r.ReadAt(bad, int64(2*cs)); !errors.Is(err, ErrCorrupt) || n != 0 || !bytes.Equal(bad, make([]byte, cs)) {
		t.Fatalf("the damaged chunk: n=%d err=%v", n, err)
	}
}

// TestBadArguments: keys and key IDs are checked.
func TestBadArguments(t *testing.T) {
	var b bytes.Buffer
	if _, err := NewWriter(&b, make([]byte, 16), "k", 0); !errors.Is(err, ErrKeySize) {
		t.Errorf("short key: %v", err)
	}
	for _, id := range []string{"", string(make([]byte, 33)), "a\x00b"} {
		if _, err := NewWriter(&b, key(), id, 0); !errors.Is(err, ErrKeyID) {
			t.Errorf("key ID %q: %v", id, err)
		}
	}
	if _, err := NewWriter(&b, key(), "k", MaxChunkSize+1); err == nil {
		t.Error("a chunk size over the maximum")
	}
}

// FuzzReader: any bytes either fail to open or read without panicking, and
// what decrypts is exactly the plaintext sealed with the key (only files
// sealed with it can decrypt; workers seal their own copy, with their own
// salt, so the check is on the plaintext).
func FuzzReader(f *testing.F) {
	k := bytes.Repeat([]byte{7}, 32)
	plain := plaintext(3000)
	file := seal(f, plain, k, 1024)
	f.Add(file, int64(0), 100)
	f.Add(file[:200], int64(10), 10)
	f.Add([]byte("CVSEAL1\x00"), int64(0), 1)
	f.Fuzz(func(t *testing.T, b []byte, off int64, n int) {
		r, err := NewReader(bytes.NewReader(b), int64(len(b)), k)
		if err != nil {
			return
		}
		if n < 0 || n > 1<<16 || off < 0 {
			return
		}
		got := make([]byte, n)
		m, err := r.ReadAt(got, off)
		if (err == nil || errors.Is(err, io.EOF)) && m > 0 && (off >= int64(len(plain)) || !bytes.Equal(got[:m], plain[off:min(int64(len(plain)), off+int64(m))])) {
			t.Fatalf("decrypted bytes that were never sealed")
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	k := key()
	chunk := plaintext(DefaultChunkSize)
	w, _ := NewWriter(io.Discard, k, "k", 0)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		w.Write(chunk)
	}
}
