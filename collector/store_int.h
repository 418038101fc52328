/* Inside the SQLite store: for the store's own modules (store_*.c). */
#ifndef VG_STORE_INT_H
#define VG_STORE_INT_H

#include <sqlite3.h>

struct store;
sqlite3 *store_sqlite_db(struct store *s);

#endif
