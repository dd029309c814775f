// Package s3 stores blobs in an S3-compatible object store (AWS S3, MinIO,
// versitygw, Ceph RGW, …) through minio-go. Objects live in one bucket
// under an optional key prefix, so that several installations or test
// runs can share a bucket. S3 makes a PUT visible whole or not at all,
// which is the atomicity blob.Store promises; ranged reads are ranged
// GETs.
//
//	st, err := s3.Open(ctx, s3.Config{Endpoint: "127.0.0.1:7070", Bucket: "camvault",
//		AccessKey: id, SecretKey: secret})
//
// camvault seals every segment before it reaches a blob store, so the
// object store only ever holds ciphertext.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/camvault/camvault/internal/blob"
)

// Config says where the objects live.
type Config struct {
	// Endpoint is the server's host:port, without a scheme.
	Endpoint string
	// Secure uses HTTPS; required for anything but loopback.
	Secure bool
	// Region is the bucket's region; empty lets the server say.
	Region string
	// Bucket holds the objects. It must exist unless CreateBucket.
	Bucket string
	// Prefix is put before every key ("cluster-a/"); empty for none.
	Prefix string
	// AccessKey and SecretKey are the credentials. Never logged.
	AccessKey, SecretKey string
	// CreateBucket creates Bucket when it does not exist.
	CreateBucket bool
	// Transport replaces the HTTP transport (tests, custom CAs).
	Transport http.RoundTripper
	// ReadTimeout bounds one ranged read; 0 means 30 s.
	ReadTimeout time.Duration
}

// memLimit is how much of an object of unknown size Put buffers to send it
// in one PUT; larger objects go up in parts of this size.
const memLimit = 32 << 20

// Store is a blob.Store in an S3 bucket.
type Store struct {
	c           *minio.Client
	bucket      string
	prefix      string
	readTimeout time.Duration
}

var _ blob.Store = (*Store)(nil)

// Open connects to the bucket and checks that it is there.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("s3: endpoint and bucket are required")
	}
	if cfg.Prefix != "" && !blob.ValidPrefix(cfg.Prefix) {
		return nil, fmt.Errorf("s3: prefix %q: %w", cfg.Prefix, blob.ErrInvalidKey)
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.Secure,
		Region:    cfg.Region,
		Transport: cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3: bucket %s: %w", cfg.Bucket, err)
	}
	if !ok {
		if !cfg.CreateBucket {
			return nil, fmt.Errorf("s3: bucket %s does not exist", cfg.Bucket)
		}
		if err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			return nil, fmt.Errorf("s3: create bucket %s: %w", cfg.Bucket, err)
		}
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	return &Store{c: c, bucket: cfg.Bucket, prefix: cfg.Prefix, readTimeout: cfg.ReadTimeout}, nil
}

// Ping checks that the bucket answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.c.BucketExists(ctx, s.bucket); err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	return nil
}

func (s *Store) name(key string) (string, error) {
	if !blob.ValidKey(key) {
		return "", blob.ErrInvalidKey
	}
	return s.prefix + key, nil
}

// notFound maps the store's "no such object" answers to blob.ErrNotFound.
func notFound(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey, "NotFound":
		return blob.ErrNotFound
	}
	return err
}

// Put implements blob.Store. An object up to memLimit goes up in one PUT
// of known length; a larger one as a multipart upload, which S3 makes
// visible only when it completes.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (blob.Info, error) {
	name, err := s.name(key)
	if err != nil {
		return blob.Info{}, err
	}
	size := int64(-1)
	switch v := r.(type) {
	case *bytes.Reader:
		size = int64(v.Len())
	case *bytes.Buffer:
		size = int64(v.Len())
	case *strings.Reader:
		size = int64(v.Len())
	default:
		head, err := io.ReadAll(io.LimitReader(r, memLimit+1))
		if err != nil {
			return blob.Info{}, fmt.Errorf("s3: put %s: %w", key, err)
		}
		if len(head) <= memLimit {
			r, size = bytes.NewReader(head), int64(len(head))
		} else {
			r = io.MultiReader(bytes.NewReader(head), r)
		}
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: memLimit}
	info, err := s.c.PutObject(ctx, s.bucket, name, r, size, opts)
	if err != nil {
		return blob.Info{}, fmt.Errorf("s3: put %s: %w", key, err)
	}
	mod := info.LastModified
	if mod.IsZero() {
		mod = time.Now()
	}
	return blob.Info{Key: key, Size: info.Size, Modified: mod}, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	name, err := s.name(key)
	if err != nil {
		return blob.Info{}, err
	}
	oi, err := s.c.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return blob.Info{}, fmt.Errorf("s3: stat %s: %w", key, notFound(err))
	}
	return blob.Info{Key: key, Size: oi.Size, Modified: oi.LastModified}, nil
}

// Open implements blob.Store: it learns the object's size, and each
// ReadAt is one ranged GET.
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	return &object{s: s, name: s.prefix + key, size: info.Size}, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	name, err := s.name(key)
	if err != nil {
		return err
	}
	// S3 deletes succeed whether or not the object was there; the
	// contract wants to know.
	if _, err := s.Stat(ctx, key); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("s3: delete %s: %w", key, notFound(err))
	}
	return nil
}

// List implements blob.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]blob.Info, error) {
	if !blob.ValidPrefix(prefix) {
		return nil, blob.ErrInvalidKey
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the listing goroutine on an early return
	var out []blob.Info
	for oi := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, fmt.Errorf("s3: list %q: %w", prefix, oi.Err)
		}
		key := strings.TrimPrefix(oi.Key, s.prefix)
		if !blob.ValidKey(key) {
			continue // not ours: written by something else into the bucket
		}
		out = append(out, blob.Info{Key: key, Size: oi.Size, Modified: oi.LastModified})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// object is an open object; each ReadAt is one ranged GET. Its reads have
// no caller's context (io.ReaderAt has none), so each is bounded by the
// store's ReadTimeout.
type object struct {
	s    *Store
	name string
	size int64
}

func (o *object) Size() int64  { return o.size }
func (o *object) Close() error { return nil }

// ReadAt implements io.ReaderAt.
func (o *object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("s3: negative offset")
	}
	if off >= o.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), o.size-off)
	if want == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.s.readTimeout)
	defer cancel()
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(off, off+want-1); err != nil {
		return 0, err
	}
	body, _, _, err := minio.Core{Client: o.s.c}.GetObject(ctx, o.s.bucket, o.name, opts)
	if err != nil {
		return 0, fmt.Errorf("s3: read %s: %w", o.name, notFound(err))
	}
	defer body.Close()
	n, err := io.ReadFull(body, p[:want])
	if err != nil {
		return n, fmt.Errorf("s3: read %s: %w", o.name, err)
	}
	if want < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}
