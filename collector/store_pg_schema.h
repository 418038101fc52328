/*
 * The PostgreSQL baseline schema: the SQLite store's schema version 6
 * (store_sqlite.c: schema[], added_columns[], migrations[] 3..6) merged
 * into one PostgreSQL 15 script, and the day partitions of the two big
 * tables.  A PostgreSQL database starts at version 6; later versions are
 * steps shared with SQLite.
 *
 * Same table, column and index names, same column order, defaults and
 * keys as SQLite, so that one text of each query runs on both.  Types:
 * INTEGER -> BIGINT (flags stay 0/1), BLOB -> BYTEA, REAL -> DOUBLE
 * PRECISION, TEXT -> TEXT; "similar" and "offset" are quoted.
 *
 * events and processes are partitioned by RANGE on the collector's
 * receive time (events.recv_time_ms, processes.recv_ms), one partition per
 * UTC day, and have no DEFAULT partition: a row for a day without a
 * partition is refused (SQLSTATE 23514), so partitions are made ahead.
 * Their id is an identity column with a plain index, not a key
 * (PostgreSQL: a unique index on a partitioned table must include the
 * partition key); it is unique as long as rows go in through the parent.
 *
 *   processes: ... recv_ms | hash_note | forked | txid (PostgreSQL only)
 *              | tty (schema 9, both)
 *   export_cursors: sink | audit_id | process_id | updated_ms
 *                   | process_txid (PostgreSQL only)
 *
 * txid (the inserting transaction, xid8) and process_txid ('0': none yet)
 * are the cross-collector export order; SQLite has neither column.  They
 * come last, so the shared columns keep SQLite's positions.
 */
#ifndef VG_STORE_PG_SCHEMA_H
#define VG_STORE_PG_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

/* The schema version store_pg_schema creates. */
#define STORE_PG_BASELINE 6

/* The baseline DDL: several statements, no parameters, for an empty
 * database, in one transaction (a table that exists already fails it).
 * It creates meta but writes no row: the caller records
 * schema_version = STORE_PG_BASELINE.  It makes no partition: the caller
 * adds them with store_pg_partition_sql() in the same transaction. */
extern const char store_pg_schema[];

/* The partitioned tables, NULL-terminated: {"events", "processes", NULL}. */
extern const char *const store_pg_partitioned[];

/* Writes to out the statement that makes table's partition for the UTC
 * day holding day_start_ms (any time of that day; a day runs
 * [00:00, 24:00) UTC in ms since the epoch), named <table>_pYYYYMMDD:
 *   CREATE TABLE IF NOT EXISTS events_p20261205 PARTITION OF events
 *   FOR VALUES FROM (1796428800000) TO (1796515200000)
 * Returns 0, or -1 (out then holds "" if outlen > 0) when table is not in
 * store_pg_partitioned, the day is outside years 1970..9999, or the
 * statement does not fit in outlen bytes (128 are always enough). */
int store_pg_partition_sql(const char *table, int64_t day_start_ms, char *out, size_t outlen);

#endif
