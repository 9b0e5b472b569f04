-- qr3-webhookd schema, version 7: the jobs table's state check written without an IN list.
--
-- SQLite checks `state IN ('pending', 'delivered', 'failed', 'paused', 'cancelled')` by building a
-- temporary b-tree of the five values each time a statement that sets `state` runs, and recording
-- every result sets it: about 3 µs of the 20 µs of database work a delivery costs. The same check
-- written as comparisons costs nothing measurable (`RoundBenchmark` in the storage tests).
--
-- A CHECK constraint is not stored in the rows, so the definition is edited in place, the way
-- SQLite's ALTER TABLE documentation describes for changing constraints, instead of copying every
-- job into a new table. The migrator then raises schema_version, so that every connection,
-- including the one that ran this, reads the new definition.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(
    sql,
    'CHECK (state IN (''pending'', ''delivered'', ''failed'', ''paused'', ''cancelled''))',
    'CHECK (state = ''pending'' OR state = ''delivered'' OR state = ''failed'' OR state = ''paused'' OR state = ''cancelled'')'
)
WHERE type = 'table' AND name = 'jobs';
PRAGMA writable_schema = OFF;
