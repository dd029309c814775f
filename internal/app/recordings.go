package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/blob"
	"github.com/camvault/camvault/internal/blob/localfs"
	"github.com/camvault/camvault/internal/blob/s3"
	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/ffmpeg"
	"github.com/camvault/camvault/internal/live/snapshot"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/keys"
	"github.com/camvault/camvault/internal/serverkey"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
)

// openArchive opens the recording archive: sealed segments on local disk
// under the recordings dir or in an S3 bucket, data keys in the store
// wrapped by the server keys.
func openArchive(cfg config.Config, st store.Store, serverKeys *serverkey.Ring, log *slog.Logger) (*record.Archive, error) {
	blobs, err := openBlobs(cfg)
	if err != nil {
		return nil, err
	}
	ring, err := keys.NewRing(st, serverKeys)
	if err != nil {
		return nil, err
	}
	node := record.LocalNode
	if cfg.ClusterMode() {
		node = nodeID(cfg)
	}
	return record.NewArchive(blobs, st, ring, log, record.WithNode(node)), nil
}

// OpenArchive opens the store and the recording archive of cfg, for
// commands that act on the recordings directly (camvault admin
// recordings check). Close the store when done.
func OpenArchive(ctx context.Context, cfg config.Config, log *slog.Logger) (*record.Archive, store.Store, error) {
	key, st, err := openData(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	ar, err := openArchive(cfg, st, key, log)
	if err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("recordings: %w", err)
	}
	return ar, st, nil
}

// openBlobs opens the object storage the configuration names.
func openBlobs(cfg config.Config) (blob.Store, error) {
	c := cfg.Blob.S3
	if !c.Enabled() {
		return localfs.Open(cfg.RecordingsDir())
	}
	secret, err := os.ReadFile(c.SecretKeyFile)
	if err != nil {
		return nil, fmt.Errorf("blob.s3.secret_key_file: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s3.Open(ctx, s3.Config{Endpoint: c.Endpoint, Secure: !c.Insecure, Region: c.Region, Bucket: c.Bucket,
		Prefix: c.Prefix, AccessKey: c.AccessKey, SecretKey: strings.TrimSpace(string(secret))})
}

// startRecording reconciles the archive with its index (after a crash,
// orphan files and this node's unfinished uploads go; stored segments
// whose files are not found are reported, never dropped), then records
// (on a node serving media, of the cameras it owns) and runs retention
// until ctx ends.
func startRecording(ctx context.Context, cfg config.Config, st store.Store, svc *service.Service, ar *record.Archive, hub *media.Hub, owns func(domain.ID) bool, log *slog.Logger, goroutine func(func())) error {
	c, err := ar.Reconcile(ctx, record.Recover)
	if err != nil {
		return err
	}
	if c.OrphanBlobs+c.AbandonedUploads > 0 {
		log.Warn("recordings recovered after an unclean stop", "orphan_blobs", c.OrphanBlobs, "abandoned_uploads", c.AbandonedUploads)
	}
	if c.MissingBlobs+c.Damaged > 0 {
		log.Error("recordings whose files are missing or damaged are kept in the index; see camvault admin recordings check",
			"missing_blobs", c.MissingBlobs, "damaged", c.Damaged)
	}
	if cfg.ServesMedia() {
		rec := record.NewRecorder(record.RecorderConfig{Archive: ar, Source: svc, Media: hub, Logger: log.With("component", "recorder"),
			Segment: time.Duration(cfg.Recordings.Segment), Thumbnail: thumbnailer(log), Owns: owns})
		svc.SetRecorder(rec)
		goroutine(func() { rec.Run(ctx) })
	}
	goroutine(func() {
		chore(ctx, st, "recordings.retention", choreRetry, log, func(ctx context.Context) { cleanRecordings(ctx, cfg, svc, ar, log) })
	})
	goroutine(func() {
		chore(ctx, st, "recordings.uploads", choreRetry, log, func(ctx context.Context) {
			clearAbandonedUploads(ctx, ar, time.Duration(cfg.Recordings.CleanInterval), log)
		})
	})
	goroutine(func() {
		chore(ctx, st, "recordings.exports", choreRetry, log, func(ctx context.Context) {
			expireExports(ctx, svc, time.Duration(cfg.Recordings.CleanInterval))
		})
	})
	return nil
}

// expireExports removes old and abandoned exports, of every node, every
// interval. One node of a cluster runs it (the chore
// "recordings.exports").
func expireExports(ctx context.Context, svc *service.Service, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		svc.ExpireExports(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// clearAbandonedUploads removes, every interval, the segments that nodes
// began to store and never finished (a node died mid-upload). One node of
// a cluster runs it (the chore "recordings.uploads").
func clearAbandonedUploads(ctx context.Context, ar *record.Archive, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := ar.ClearAbandonedUploads(ctx); err != nil && ctx.Err() == nil {
			log.Warn("clearing abandoned uploads", "err", err)
		} else if n > 0 {
			log.Info("abandoned uploads removed", "segments", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cleanRecordings shreds what is due and applies retention every clean
// interval. One node of a cluster runs it (the chore
// "recordings.retention").
func cleanRecordings(ctx context.Context, cfg config.Config, svc *service.Service, ar *record.Archive, log *slog.Logger) {
	t := time.NewTicker(time.Duration(cfg.Recordings.CleanInterval))
	defer t.Stop()
	dir := cfg.RecordingsDir()
	for {
		if _, err := svc.ShredDue(ctx); err != nil && ctx.Err() == nil {
			log.Warn("shredding recordings", "err", err)
		}
		lim, err := svc.RetentionLimits(ctx)
		if err == nil {
			lim.MaxDays = cfg.Recordings.MaxDays
			lim.FreeFloor = int64(cfg.Recordings.FreeFloorGB * (1 << 30))
			if !cfg.Blob.S3.Enabled() {
				lim.Free = func() (int64, error) { return diskFree(dir) }
			}
			var c record.Cleaned
			if c, err = ar.Clean(ctx, lim); err == nil && c.ByAge+c.BySize+c.ByFloor > 0 {
				log.Info("retention", "by_age", c.ByAge, "by_size", c.BySize, "by_disk_floor", c.ByFloor, "bytes", c.Bytes, "kept_in_use", c.Kept)
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("recording retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// thumbnailer decodes keyframes into timeline stills with ffmpeg, through
// pipes (no plaintext file); nil without ffmpeg, and the timeline has no
// pictures.
func thumbnailer(log *slog.Logger) func(context.Context, media.Track, *media.AccessUnit) ([]byte, error) {
	path, err := ffmpeg.Path()
	if err != nil {
		log.Info("recordings: no timeline thumbnails (ffmpeg is not installed)")
		return nil
	}
	return func(ctx context.Context, tr media.Track, au *media.AccessUnit) ([]byte, error) {
		return snapshot.JPEG(ctx, path, tr, au, record.MaxThumbnail)
	}
}
