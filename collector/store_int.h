/* Inside the SQLite store: for the store's own modules (store_*.c). */
#ifndef VG_STORE_INT_H
#define VG_STORE_INT_H

#include "db.h"

struct store;
/* The store's database connection. */
struct db *store_db(struct store *s);

#endif
