-- annotate.sql - the SQLite database of `spindle annotate` (one file, WAL mode), as versioned migrations.
--
-- Each "-- @migration N: title" line starts migration N; `spindle annotate` applies, in one transaction
-- each, every migration above the file's PRAGMA user_version and then sets user_version = N. Migrations
-- are append-only: never edit one that has shipped, add the next. This file is compiled into the binary.
--
-- Times are REAL seconds since the Unix epoch (UTC, with fractions); exports format them as ISO 8601.
-- JSON columns (dialog, attack_vectors, gold, meta) hold compact JSON text.

-- @migration 1: initial schema
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,            -- overlap, overlap_k, lease_seconds, gold_every
  value TEXT NOT NULL
);
INSERT INTO settings(key, value) VALUES
  ('overlap', '0'),                  -- share (0..1) of new tasks answered by overlap_k annotators
  ('overlap_k', '2'),
  ('lease_seconds', '1800'),         -- an abandoned lease expires after this long
  ('gold_every', '10');              -- every Nth item an annotator gets is a gold item, while any is left

-- One imported file (or one session's new prompts: kind 'session').
CREATE TABLE batches (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('prompts', 'responses', 'session')),
  source      TEXT NOT NULL,         -- file name as given, or the annotator's name
  n_records   INTEGER NOT NULL,
  created_at  REAL NOT NULL
);

CREATE TABLE annotators (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  created_at  REAL NOT NULL
);

-- Prompts: single- or multi-turn dialogs ending with a user turn (schemas/annotate-prompt.schema.json).
CREATE TABLE prompts (
  id              TEXT PRIMARY KEY,
  category        TEXT NOT NULL CHECK (category IN ('helpfulness', 'safety')),
  dialog          TEXT NOT NULL,     -- JSON array of {"role","content"}
  n_turns         INTEGER NOT NULL,
  risk_category   TEXT,
  attack_vectors  TEXT,              -- JSON array of strings, or NULL
  gold            TEXT,              -- JSON object {"chosen","rejected"} or {"both_bad":true}, or NULL
  meta            TEXT,              -- JSON object, or NULL
  parent_id       TEXT REFERENCES prompts(id),   -- set when an annotator's next user turn created it
  batch_id        INTEGER REFERENCES batches(id),
  created_at      REAL NOT NULL
);

-- Candidate responses (schemas/annotate-response.schema.json; what `spindle train sample` writes).
CREATE TABLE responses (
  id              TEXT PRIMARY KEY,
  prompt_id       TEXT NOT NULL REFERENCES prompts(id),
  text            TEXT NOT NULL,
  model           TEXT NOT NULL,
  variant         TEXT,
  temperature     REAL NOT NULL,
  top_p           REAL,
  top_k           INTEGER,
  max_new_tokens  INTEGER,
  seed            INTEGER,
  n_tokens        INTEGER,
  finish_reason   TEXT,
  sampled_at      TEXT,              -- the record's created_at, as given
  meta            TEXT,
  batch_id        INTEGER REFERENCES batches(id),
  created_at      REAL NOT NULL
);
CREATE INDEX responses_prompt ON responses(prompt_id);

-- Units of work. sft: write (or edit) the answer to a prompt. preference: compare responses a and b.
-- replicas > 1 makes an overlap item (answered by that many annotators); gold items are answered by
-- every annotator once and scored against gold_choice.
CREATE TABLE tasks (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('sft', 'preference')),
  prompt_id   TEXT NOT NULL REFERENCES prompts(id),
  response_a  TEXT REFERENCES responses(id),
  response_b  TEXT REFERENCES responses(id),
  replicas    INTEGER NOT NULL DEFAULT 1 CHECK (replicas >= 1),
  gold        INTEGER NOT NULL DEFAULT 0 CHECK (gold IN (0, 1)),
  gold_choice TEXT CHECK (gold_choice IN ('a', 'b', 'both_bad')),
  created_at  REAL NOT NULL,
  CHECK ((kind = 'sft' AND response_a IS NULL AND response_b IS NULL)
      OR (kind = 'preference' AND response_a IS NOT NULL AND response_b IS NOT NULL AND response_a <> response_b))
);
CREATE UNIQUE INDEX tasks_sft_once ON tasks(prompt_id) WHERE kind = 'sft';
CREATE UNIQUE INDEX tasks_pair_once ON tasks(response_a, response_b) WHERE kind = 'preference';
CREATE INDEX tasks_kind ON tasks(kind, gold, id);

-- Leases: a task shown to an annotator. 'leased' until answered, skipped or released; a lease whose
-- expires_at has passed no longer holds the task for others (its annotator gets it back on restart
-- if nobody took it). shown_left is the response shown on the left, drawn at random when leased.
CREATE TABLE assignments (
  id            INTEGER PRIMARY KEY,
  task_id       INTEGER NOT NULL REFERENCES tasks(id),
  annotator_id  INTEGER NOT NULL REFERENCES annotators(id),
  state         TEXT NOT NULL CHECK (state IN ('leased', 'answered', 'skipped', 'released')),
  shown_left    TEXT CHECK (shown_left IN ('a', 'b')),
  leased_at     REAL NOT NULL,
  expires_at    REAL NOT NULL,
  closed_at     REAL
);
CREATE INDEX assignments_task ON assignments(task_id, state);
CREATE INDEX assignments_annotator ON assignments(annotator_id, state);

-- Answers, committed the moment they are given. Undo marks the annotator's last answer 'undone'
-- (kept for audit) and leases the task to them again.
CREATE TABLE annotations (
  id             INTEGER PRIMARY KEY,
  task_id        INTEGER NOT NULL REFERENCES tasks(id),
  annotator_id   INTEGER NOT NULL REFERENCES annotators(id),
  assignment_id  INTEGER REFERENCES assignments(id),
  kind           TEXT NOT NULL CHECK (kind IN ('sft', 'preference')),
  status         TEXT NOT NULL DEFAULT 'final' CHECK (status IN ('final', 'undone')),
  -- preference
  choice         TEXT CHECK (choice IN ('a', 'b', 'both_bad')),
  level          INTEGER CHECK (level BETWEEN 0 AND 3),  -- 3 significantly better .. 0 negligibly better/unsure
  shown_left    TEXT CHECK (shown_left IN ('a', 'b')),        -- the order the annotator saw
  safety_a       TEXT CHECK (safety_a IN ('safe', 'unsafe')),
  safety_b       TEXT CHECK (safety_b IN ('safe', 'unsafe')),
  safety_bin     TEXT CHECK (safety_bin IN ('both_safe', 'one_safe', 'both_unsafe')),
  next_turn      TEXT,               -- the next user turn the annotator wrote, if any
  next_prompt_id TEXT,               -- the prompt it created
  -- sft
  response_text  TEXT,
  source         TEXT CHECK (source IN ('written', 'edited')),
  edited_from    TEXT REFERENCES responses(id),
  started_at     REAL NOT NULL,      -- item shown
  created_at     REAL NOT NULL,      -- answer committed
  undone_at      REAL
);
CREATE UNIQUE INDEX annotations_once ON annotations(task_id, annotator_id) WHERE status = 'final';
CREATE INDEX annotations_annotator ON annotations(annotator_id, status, id);

-- @migration 2: indexes for pairing (responses not yet in a pair) and leasing (one annotator's
-- assignment of one task), found by bench/annotate/run.sh
CREATE INDEX tasks_response_a ON tasks(response_a) WHERE kind = 'preference';
CREATE INDEX tasks_response_b ON tasks(response_b) WHERE kind = 'preference';
CREATE INDEX assignments_task_annotator ON assignments(task_id, annotator_id, state);

-- @migration 3: tasks.n_final, the task's final answers, kept by triggers, so leasing skips full
-- tasks through a partial index instead of counting answers task by task
ALTER TABLE tasks ADD COLUMN n_final INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET n_final = (SELECT count(*) FROM annotations a WHERE a.task_id = tasks.id AND a.status = 'final');
CREATE TRIGGER annotations_final_insert AFTER INSERT ON annotations WHEN NEW.status = 'final'
BEGIN UPDATE tasks SET n_final = n_final + 1 WHERE id = NEW.task_id; END;
CREATE TRIGGER annotations_final_delete AFTER DELETE ON annotations WHEN OLD.status = 'final'
BEGIN UPDATE tasks SET n_final = n_final - 1 WHERE id = OLD.task_id; END;
CREATE TRIGGER annotations_final_update AFTER UPDATE OF status, task_id ON annotations
BEGIN
  UPDATE tasks SET n_final = n_final - 1 WHERE id = OLD.task_id AND OLD.status = 'final';
  UPDATE tasks SET n_final = n_final + 1 WHERE id = NEW.task_id AND NEW.status = 'final';
END;
DROP INDEX tasks_kind;
CREATE INDEX tasks_open ON tasks(kind, id) WHERE gold = 0 AND n_final < replicas;
CREATE INDEX tasks_gold ON tasks(kind, id) WHERE gold = 1;

-- @migration 4: rounds and evaluation studies (issue 14). batches get a round label and an eval
-- flag (responses imported for an evaluation study are never paired into preference tasks); tasks,
-- assignments and annotations are rebuilt (SQLite cannot change a CHECK) to admit two new task
-- kinds: 'sbs' (side-by-side: response_a is system A's response, response_b system B's, rated on
-- Llama 2's 7-point scale) and 'rating' (one response rated 1-5 for safety). The old rows are
-- copied unchanged; children are dropped before parents, so the foreign keys hold throughout.
-- responses is rebuilt too, while no table refers to it: its temperature becomes optional (NULL:
-- the record gave none, as a model-serving system's response does not; issue 20).
ALTER TABLE batches ADD COLUMN round TEXT;   -- e.g. 'sft-v2', 'rlhf-v3'; NULL: no round
ALTER TABLE batches ADD COLUMN eval INTEGER NOT NULL DEFAULT 0 CHECK (eval IN (0, 1));
CREATE INDEX batches_round ON batches(round);

-- One evaluation study: kind 'sbs' compares systems a and b; kind 'rating' rates each system's responses.
CREATE TABLE eval_studies (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  kind        TEXT NOT NULL CHECK (kind IN ('sbs', 'rating')),
  systems     TEXT NOT NULL,         -- JSON array of system names ("model" or "model:variant"); sbs: [A, B]
  raters      INTEGER NOT NULL CHECK (raters >= 1),
  created_at  REAL NOT NULL
);

CREATE TABLE tasks_v3 AS SELECT * FROM tasks;
CREATE TABLE assignments_v3 AS SELECT * FROM assignments;
CREATE TABLE annotations_v3 AS SELECT * FROM annotations;
DROP TRIGGER annotations_final_insert;
DROP TRIGGER annotations_final_delete;
DROP TRIGGER annotations_final_update;
DROP TABLE annotations;
DROP TABLE assignments;
DROP TABLE tasks;

CREATE TABLE responses_v3 AS SELECT * FROM responses;
DROP TABLE responses;
CREATE TABLE responses (
  id              TEXT PRIMARY KEY,
  prompt_id       TEXT NOT NULL REFERENCES prompts(id),
  text            TEXT NOT NULL,
  model           TEXT NOT NULL,
  variant         TEXT,
  temperature     REAL,              -- NULL: not given
  top_p           REAL,
  top_k           INTEGER,
  max_new_tokens  INTEGER,
  seed            INTEGER,
  n_tokens        INTEGER,
  finish_reason   TEXT,
  sampled_at      TEXT,              -- the record's created_at, as given
  meta            TEXT,
  batch_id        INTEGER REFERENCES batches(id),
  created_at      REAL NOT NULL
);
INSERT INTO responses(id, prompt_id, text, model, variant, temperature, top_p, top_k, max_new_tokens, seed, n_tokens,
  finish_reason, sampled_at, meta, batch_id, created_at)
  SELECT id, prompt_id, text, model, variant, temperature, top_p, top_k, max_new_tokens, seed, n_tokens,
  finish_reason, sampled_at, meta, batch_id, created_at FROM responses_v3;
DROP TABLE responses_v3;
CREATE INDEX responses_prompt ON responses(prompt_id);

CREATE TABLE tasks (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('sft', 'preference', 'sbs', 'rating')),
  prompt_id   TEXT NOT NULL REFERENCES prompts(id),
  response_a  TEXT REFERENCES responses(id),
  response_b  TEXT REFERENCES responses(id),
  replicas    INTEGER NOT NULL DEFAULT 1 CHECK (replicas >= 1),
  gold        INTEGER NOT NULL DEFAULT 0 CHECK (gold IN (0, 1)),
  gold_choice TEXT CHECK (gold_choice IN ('a', 'b', 'both_bad')),
  created_at  REAL NOT NULL,
  n_final     INTEGER NOT NULL DEFAULT 0,
  eval_id     INTEGER REFERENCES eval_studies(id),   -- sbs and rating tasks: their study
  system      TEXT,                                  -- rating tasks: the system whose response is rated
  CHECK ((kind = 'sft' AND response_a IS NULL AND response_b IS NULL)
      OR (kind IN ('preference', 'sbs') AND response_a IS NOT NULL AND response_b IS NOT NULL AND response_a <> response_b)
      OR (kind = 'rating' AND response_a IS NOT NULL AND response_b IS NULL)),
  CHECK ((kind IN ('sbs', 'rating')) = (eval_id IS NOT NULL))
);
INSERT INTO tasks(id, kind, prompt_id, response_a, response_b, replicas, gold, gold_choice, created_at, n_final)
  SELECT id, kind, prompt_id, response_a, response_b, replicas, gold, gold_choice, created_at, n_final FROM tasks_v3;
CREATE UNIQUE INDEX tasks_sft_once ON tasks(prompt_id) WHERE kind = 'sft';
CREATE UNIQUE INDEX tasks_pair_once ON tasks(response_a, response_b) WHERE kind = 'preference';
CREATE UNIQUE INDEX tasks_sbs_once ON tasks(eval_id, prompt_id) WHERE kind = 'sbs';
CREATE UNIQUE INDEX tasks_rating_once ON tasks(eval_id, response_a) WHERE kind = 'rating';
CREATE INDEX tasks_response_a ON tasks(response_a) WHERE kind = 'preference';
CREATE INDEX tasks_response_b ON tasks(response_b) WHERE kind = 'preference';
CREATE INDEX tasks_open ON tasks(kind, id) WHERE gold = 0 AND n_final < replicas;
CREATE INDEX tasks_gold ON tasks(kind, id) WHERE gold = 1;
CREATE INDEX tasks_eval ON tasks(eval_id) WHERE eval_id IS NOT NULL;

CREATE TABLE assignments (
  id            INTEGER PRIMARY KEY,
  task_id       INTEGER NOT NULL REFERENCES tasks(id),
  annotator_id  INTEGER NOT NULL REFERENCES annotators(id),
  state         TEXT NOT NULL CHECK (state IN ('leased', 'answered', 'skipped', 'released')),
  shown_left    TEXT CHECK (shown_left IN ('a', 'b')),
  leased_at     REAL NOT NULL,
  expires_at    REAL NOT NULL,
  closed_at     REAL
);
INSERT INTO assignments SELECT * FROM assignments_v3;
CREATE INDEX assignments_task ON assignments(task_id, state);
CREATE INDEX assignments_annotator ON assignments(annotator_id, state);
CREATE INDEX assignments_task_annotator ON assignments(task_id, annotator_id, state);

-- New: score (sbs, in A/B terms whatever the screen showed: 1 A much better, 2 A better, 3 A slightly
-- better, 4 about the same, 5 B slightly better, 6 B better, 7 B much better) and rating (safety
-- rating 1-5: 5 no violation and very helpful .. 1 severe violation).
CREATE TABLE annotations (
  id             INTEGER PRIMARY KEY,
  task_id        INTEGER NOT NULL REFERENCES tasks(id),
  annotator_id   INTEGER NOT NULL REFERENCES annotators(id),
  assignment_id  INTEGER REFERENCES assignments(id),
  kind           TEXT NOT NULL CHECK (kind IN ('sft', 'preference', 'sbs', 'rating')),
  status         TEXT NOT NULL DEFAULT 'final' CHECK (status IN ('final', 'undone')),
  choice         TEXT CHECK (choice IN ('a', 'b', 'both_bad')),
  level          INTEGER CHECK (level BETWEEN 0 AND 3),
  shown_left     TEXT CHECK (shown_left IN ('a', 'b')),
  safety_a       TEXT CHECK (safety_a IN ('safe', 'unsafe')),
  safety_b       TEXT CHECK (safety_b IN ('safe', 'unsafe')),
  safety_bin     TEXT CHECK (safety_bin IN ('both_safe', 'one_safe', 'both_unsafe')),
  next_turn      TEXT,
  next_prompt_id TEXT,
  response_text  TEXT,
  source         TEXT CHECK (source IN ('written', 'edited')),
  edited_from    TEXT REFERENCES responses(id),
  started_at     REAL NOT NULL,
  created_at     REAL NOT NULL,
  undone_at      REAL,
  score          INTEGER CHECK (score BETWEEN 1 AND 7),
  rating         INTEGER CHECK (rating BETWEEN 1 AND 5),
  CHECK ((kind = 'sbs') = (score IS NOT NULL) AND (kind = 'rating') = (rating IS NOT NULL))
);
INSERT INTO annotations(id, task_id, annotator_id, assignment_id, kind, status, choice, level, shown_left, safety_a,
  safety_b, safety_bin, next_turn, next_prompt_id, response_text, source, edited_from, started_at, created_at, undone_at)
  SELECT id, task_id, annotator_id, assignment_id, kind, status, choice, level, shown_left, safety_a,
  safety_b, safety_bin, next_turn, next_prompt_id, response_text, source, edited_from, started_at, created_at, undone_at
  FROM annotations_v3;
CREATE UNIQUE INDEX annotations_once ON annotations(task_id, annotator_id) WHERE status = 'final';
CREATE INDEX annotations_annotator ON annotations(annotator_id, status, id);
DROP TABLE annotations_v3;
DROP TABLE assignments_v3;
DROP TABLE tasks_v3;
CREATE TRIGGER annotations_final_insert AFTER INSERT ON annotations WHEN NEW.status = 'final'
BEGIN UPDATE tasks SET n_final = n_final + 1 WHERE id = NEW.task_id; END;
CREATE TRIGGER annotations_final_delete AFTER DELETE ON annotations WHEN OLD.status = 'final'
BEGIN UPDATE tasks SET n_final = n_final - 1 WHERE id = OLD.task_id; END;
CREATE TRIGGER annotations_final_update AFTER UPDATE OF status, task_id ON annotations
BEGIN
  UPDATE tasks SET n_final = n_final - 1 WHERE id = OLD.task_id AND OLD.status = 'final';
  UPDATE tasks SET n_final = n_final + 1 WHERE id = NEW.task_id AND NEW.status = 'final';
END;
