-- XXH3-128 of each artifact file (common/transfer_checksum.h), recorded at
-- upload beside the SHA-256 that names the content: agents check fetched
-- files by it, at a fraction of SHA-256's cost. Empty for files stored
-- before; those are checked by their SHA-256 as before.
ALTER TABLE artifacts ADD COLUMN xxh128 TEXT NOT NULL DEFAULT '';
