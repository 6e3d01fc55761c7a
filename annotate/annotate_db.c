/* annotate_db.c - opening the annotation database: WAL mode, busy timeout, versioned migrations
 * (schemas/annotate.sql, compiled in), settings, annotators, the clock. Used by every other
 * annotate_*.c file; the SQL helpers shared by them are in annotate_int.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "annotate_int.h"
#include "spindle/mem.h"

static const char schema_sql[] =
#include "annotate/annotate_sql.inc"
	;

static double clock_shift;

double ann_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + clock_shift;
}

void ann_clock_shift(double seconds) { clock_shift += seconds; }

int ann_sql_fail(ann_db *db, sp_err *err, const char *what)
{
	int code = sqlite3_errcode(db->h);
	int rc = sp_err_set_(err, code == SQLITE_CONSTRAINT ? SP_EDATA : SP_EIO, __FILE__, __LINE__,
	                     "database %s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
	if (err)
		err->sys_errno = 0;   /* SQLite's message is the cause; errno is stale here */
	return rc;
}

int ann_prep(ann_db *db, sqlite3_stmt **st, const char *sql, sp_err *err)
{
	if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return ann_sql_fail(db, err, "prepare");
	}
	return 0;
}

int ann_exec(ann_db *db, const char *sql, sp_err *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "database %s: %s", db->path,
		                     msg ? msg : sqlite3_errmsg(db->h));
		if (err)
			err->sys_errno = 0;
		sqlite3_free(msg);
		return rc;
	}
	return 0;
}

int ann_begin(ann_db *db, sp_err *err) { return ann_exec(db, "BEGIN IMMEDIATE", err); }
int ann_commit(ann_db *db, sp_err *err) { return ann_exec(db, "COMMIT", err); }
void ann_rollback(ann_db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

char *ann_col_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? sp_strdup((const char *)t) : NULL;
}

int ann_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

/* Runs a one-row, one-integer query with up to two integer parameters. */
int ann_query_int(ann_db *db, const char *sql, int64_t p1, int64_t p2, int64_t *out, sp_err *err)
{
	sqlite3_stmt *st;
	SP_FORWARD(ann_prep(db, &st, sql, err));
	int np = sqlite3_bind_parameter_count(st);
	if (np >= 1) sqlite3_bind_int64(st, 1, p1);
	if (np >= 2) sqlite3_bind_int64(st, 2, p2);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		*out = 0;
	int ret = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : ann_sql_fail(db, err, "query");
	sqlite3_finalize(st);
	return ret;
}

/* ------------------------------------------------------------------ migrations */

#define MIGRATION_MARK "-- @migration "

/* Finds migration number n in the schema text: *p, *len span its SQL. */
static int find_migration(int n, const char **p, size_t *len)
{
	const char *s = schema_sql;
	while ((s = strstr(s, MIGRATION_MARK)) != NULL) {
		if (s != schema_sql && s[-1] != '\n') { s++; continue; }
		int num = (int)strtol(s + strlen(MIGRATION_MARK), NULL, 10);
		const char *body = strchr(s, '\n');
		if (!body)
			return 0;
		body++;
		const char *end = strstr(body, "\n" MIGRATION_MARK);
		end = end ? end + 1 : body + strlen(body);
		if (num == n) {
			*p = body;
			*len = (size_t)(end - body);
			return 1;
		}
		s = end;
	}
	return 0;
}

int ann_schema_latest(void)
{
	int n = 0;
	const char *p;
	size_t len;
	while (find_migration(n + 1, &p, &len))
		n++;
	return n;
}

int ann_db_version(ann_db *db)
{
	int64_t v = 0;
	sp_err e = SP_ERR_INIT;
	if (ann_query_int(db, "PRAGMA user_version", 0, 0, &v, &e) < 0)
		return -1;
	return (int)v;
}

static int migrate(ann_db *db, sp_err *err)
{
	int latest = ann_schema_latest();
	for (;;) {
		SP_FORWARD(ann_begin(db, err));
		int v = ann_db_version(db);
		if (v < 0) {
			ann_rollback(db);
			return ann_sql_fail(db, err, "reading schema version");
		}
		if (v > latest) {
			ann_rollback(db);
			SP_RAISE(err, SP_EDATA, "database %s: schema version %d is newer than this spindle's %d", db->path, v, latest);
		}
		if (v == latest) {
			ann_rollback(db);
			return 0;
		}
		const char *p;
		size_t len;
		find_migration(v + 1, &p, &len);
		char *sql = sp_malloc(len + 64);
		if (!sql) {
			ann_rollback(db);
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		}
		memcpy(sql, p, len);
		snprintf(sql + len, 64, ";\nPRAGMA user_version = %d;", v + 1);
		int rc = ann_exec(db, sql, err);
		sp_free(sql);
		if (rc == 0)
			rc = ann_commit(db, err);
		if (rc < 0) {
			ann_rollback(db);
			return rc;
		}
	}
}

/* Refuses what is not (or cannot become) a spindle database before SQLite touches it: a missing
 * file (unless created), a device or folder, a non-SQLite file; an empty file only read-only. */
static int check_file(const char *path, int mode, sp_err *err)
{
	struct stat sb;
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT && mode == ANN_DB_CREATE)
			return 0;
		SP_RAISE(err, SP_ENOTFOUND, "database %s: %s (create it with `spindle annotate import`)", path, strerror(errno));
	}
	if (!S_ISREG(sb.st_mode))
		SP_RAISE(err, SP_EDATA, "database %s: not a spindle database (not a regular file)", path);
	if (sb.st_size == 0) {
		if (mode != ANN_DB_READONLY)
			return 0;
		SP_RAISE(err, SP_EDATA, "database %s: not a spindle database (empty file; create one with `spindle annotate import`)", path);
	}
	static const char magic[16] = "SQLite format 3";   /* with its NUL: the file header */
	char head[16] = { 0 };
	FILE *f = fopen(path, "rb");
	if (!f)
		SP_RAISE(err, SP_EIO, "database %s: cannot open", path);
	size_t got = fread(head, 1, sizeof head, f);
	fclose(f);
	if (got != sizeof head || memcmp(head, magic, sizeof head) != 0)
		SP_RAISE(err, SP_EDATA, "database %s: not a spindle database (not an SQLite file)", path);
	return 0;
}

int ann_db_open(ann_db **out, const char *path, int mode, sp_err *err)
{
	*out = NULL;
	SP_FORWARD(check_file(path, mode, err));
	int ro = mode == ANN_DB_READONLY;
	ann_db *db = sp_calloc(1, sizeof *db);
	if (!db || !(db->path = sp_strdup(path))) {
		sp_free(db);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	int flags = (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | (mode == ANN_DB_CREATE ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
	int rc = 0;
	if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
		rc = ann_sql_fail(db, err, "open");
		goto done;
	}
	sqlite3_busy_timeout(db->h, 10000);
	sqlite3_extended_result_codes(db->h, 0);
	/* Another program's SQLite file (schema version 0 but tables) is not ours to migrate. */
	int64_t v = 0, n_tables = 0;
	rc = ann_query_int(db, "PRAGMA user_version", 0, 0, &v, err);
	if (rc == 0 && v == 0)
		rc = ann_query_int(db, "SELECT count(*) FROM sqlite_master", 0, 0, &n_tables, err);
	if (rc < 0)
		goto done;
	if (v == 0 && (n_tables > 0 || ro)) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "database %s: not a spindle database (an SQLite file without spindle's schema)", path);
		goto done;
	}
	if (ro) {
		/* no migration and no journal-mode change: nothing is written */
		if (v > ann_schema_latest())
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "database %s: schema version %d is newer than this spindle's %d", path, (int)v, ann_schema_latest());
		else if (v < ann_schema_latest())
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "database %s: schema version %d is older than this spindle's %d; upgrade it once with `spindle annotate config --db FILE`",
			                 path, (int)v, ann_schema_latest());
		else
			rc = ann_exec(db, "PRAGMA foreign_keys=ON;", err);
		goto done;
	}
	/* WAL: annotators read while another writes; synchronous=FULL: a committed answer survives a
	 * crash of the machine, not only of the process. */
	rc = ann_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err);
	if (rc == 0)
		rc = migrate(db, err);
done:
	if (rc < 0) {
		ann_db_free(db);
		return rc;
	}
	*out = db;
	return 0;
}

void ann_db_free(ann_db *db)
{
	if (!db)
		return;
	if (db->h)
		sqlite3_close_v2(db->h);
	sp_free(db->path);
	sp_free(db);
}

sqlite3 *ann_db_sqlite(ann_db *db) { return db->h; }

/* ------------------------------------------------------------------ settings, annotators */

static int setting_known(const char *key)
{
	static const char *const keys[] = { "overlap", "overlap_k", "lease_seconds", "gold_every" };
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (strcmp(key, keys[i]) == 0)
			return 1;
	return 0;
}

int ann_setting_get(ann_db *db, const char *key, double *value, sp_err *err)
{
	sqlite3_stmt *st;
	SP_FORWARD(ann_prep(db, &st, "SELECT value FROM settings WHERE key = ?1", err));
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), ret = 0;
	if (rc == SQLITE_ROW)
		*value = sqlite3_column_double(st, 0);
	else if (rc == SQLITE_DONE)
		ret = sp_err_set_(err, SP_ENOTFOUND, __FILE__, __LINE__, "no setting '%s'", key);
	else
		ret = ann_sql_fail(db, err, "reading settings");
	sqlite3_finalize(st);
	return ret;
}

int ann_setting_set(ann_db *db, const char *key, double value, sp_err *err)
{
	if (!setting_known(key))
		SP_RAISE(err, SP_EUSAGE, "no setting '%s'", key);
	if (!isfinite(value) || value < 0 || (strcmp(key, "overlap") == 0 && value > 1) ||
	    (strcmp(key, "overlap_k") == 0 && (value < 2 || value != floor(value))))
		SP_RAISE(err, SP_EUSAGE, "setting '%s': bad value %g", key, value);
	sqlite3_stmt *st;
	SP_FORWARD(ann_begin(db, err));
	int rc = ann_prep(db, &st, "INSERT OR REPLACE INTO settings(key, value) VALUES (?1, ?2)", err);
	if (rc == 0) {
		char v[64];
		snprintf(v, sizeof v, "%.17g", value);
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, v, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = ann_sql_fail(db, err, "writing settings");
		sqlite3_finalize(st);
	}
	if (rc == 0)
		rc = ann_commit(db, err);
	if (rc < 0)
		ann_rollback(db);
	return rc;
}

int ann_annotator_id(ann_db *db, const char *name, int64_t *id, sp_err *err)
{
	if (!name || !*name || strlen(name) > 128)
		SP_RAISE(err, SP_EUSAGE, "annotator name must be 1 to 128 bytes");
	sqlite3_stmt *st = NULL;
	SP_FORWARD(ann_begin(db, err));
	int rc = ann_prep(db, &st, "INSERT OR IGNORE INTO annotators(name, created_at) VALUES (?1, ?2)", err);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 2, ann_now());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = ann_sql_fail(db, err, "adding annotator");
		sqlite3_finalize(st);
	}
	if (rc == 0 && (rc = ann_prep(db, &st, "SELECT id FROM annotators WHERE name = ?1", err)) == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			*id = sqlite3_column_int64(st, 0);
		else
			rc = ann_sql_fail(db, err, "finding annotator");
		sqlite3_finalize(st);
	}
	if (rc == 0)
		rc = ann_commit(db, err);
	if (rc < 0)
		ann_rollback(db);
	return rc;
}
