/* annotate_int.h - internals shared by the annotate_*.c files: the database handle and small SQL helpers.
 * Not a public header: the CLI and tests use annotate.h. */
#ifndef SPINDLE_ANNOTATE_INT_H
#define SPINDLE_ANNOTATE_INT_H

#include <stdio.h>
#include "annotate.h"

struct ann_db {
	sqlite3 *h;
	char *path;
};

/* Fills err from the handle's last SQLite error ("database D: WHAT: message"); returns SP_EIO
 * (SP_EDATA for constraint violations). */
int ann_sql_fail(ann_db *db, sp_err *err, const char *what);
int ann_prep(ann_db *db, sqlite3_stmt **st, const char *sql, sp_err *err);
int ann_exec(ann_db *db, const char *sql, sp_err *err);
/* BEGIN IMMEDIATE (takes the write lock now, waiting up to the busy timeout), COMMIT, ROLLBACK
 * (only when a transaction is open). */
int ann_begin(ann_db *db, sp_err *err);
int ann_commit(ann_db *db, sp_err *err);
void ann_rollback(ann_db *db);
/* Column text copied (caller frees with sp_free), NULL for SQL NULL. */
char *ann_col_dup(sqlite3_stmt *st, int col);
/* Binds a string (copied) or NULL. */
int ann_bind_text(sqlite3_stmt *st, int i, const char *s);
int ann_query_int(ann_db *db, const char *sql, int64_t p1, int64_t p2, int64_t *out, sp_err *err);

#endif
