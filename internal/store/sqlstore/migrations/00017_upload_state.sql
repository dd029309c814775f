-- +goose Up
-- A segment is indexed before its bytes are stored, marked with the node
-- storing them, and the mark is cleared once they are: crash recovery
-- removes only segments whose upload never finished, never one whose
-- bytes are merely not where the recovering node looked.
ALTER TABLE segments ADD COLUMN uploading_by TEXT;
CREATE INDEX segments_uploading ON segments (uploading_by) WHERE uploading_by IS NOT NULL;

-- +goose Down
DROP INDEX segments_uploading;
ALTER TABLE segments DROP COLUMN uploading_by;
