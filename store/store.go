// Package store keeps the results of mergescale studies in SQLite: the runs
// of a config, the models of the zoo and the merges, the merges' diagnostics,
// and every evaluation score.
//
// A database is opened with Open (read-write; creates and migrates it) or
// OpenReadOnly (for queries). Writes go through DB.Write, which runs one
// BEGIN IMMEDIATE transaction: a job's models, merges, scores and its done
// marker are committed together or not at all. Every insert is idempotent
// through the tables' unique keys, so committing a job twice adds nothing.
//
// Reads go through typed queries (Runs, Models, Merges, Scores, …) written
// against the current schema, through DB.Snapshot, which reads a whole
// study from a database of any schema version and fills in the defaults of
// the columns an older one lacks (the report reads stores this way), or
// through DB.Query for ad-hoc SQL (the query command). The SQL of the
// schema lives in this package: outside tests, no other package writes a
// statement of its own, and only the user's statements pass through
// DB.Query.
//
// The database runs in WAL mode with a busy timeout, so several goroutines
// and several processes can write to one file: immediate transactions take
// the write lock up front and wait for it instead of failing with "database
// is locked" halfway through.
//
// The schema is described in docs/DESIGN.md (section store) and created by
// the ordered migrations in schema.go.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// busyTimeoutMS is how long a connection waits for another writer's lock
// before giving up with "database is locked".
const busyTimeoutMS = 30000

// DB is an open results database. It is safe for concurrent use by several
// goroutines.
type DB struct {
	db       *sql.DB
	path     string
	readOnly bool
}

// Open opens the database at path read-write, creating it when it does not
// exist, and migrates it to the current schema version.
func Open(path string) (*DB, error) {
	return open(path, false, len(migrations))
}

// OpenReadOnly opens an existing database for reading only: every statement
// that would modify it fails. It does not migrate; a database written by a
// newer mergescale is refused.
func OpenReadOnly(path string) (*DB, error) {
	return open(path, true, len(migrations))
}

// open opens path and, when writable, migrates it to version target (tests
// use a lower target to build old databases).
func open(path string, readOnly bool, target int) (*DB, error) {
	if path == "" {
		return nil, errors.New("store: empty database path")
	}
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	db, err := sql.Open("sqlite3", dsn(path, readOnly))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	d := &DB{db: db, path: path, readOnly: readOnly}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if readOnly {
		v, err := d.SchemaVersion(context.Background())
		if err != nil {
			db.Close()
			return nil, err
		}
		if v > len(migrations) {
			db.Close()
			return nil, fmt.Errorf("store: %s has schema version %d, newer than this mergescale knows (%d)", path, v, len(migrations))
		}
		return d, nil
	}
	if err := d.migrate(context.Background(), target); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// dsn builds the go-sqlite3 data source name: WAL journal, busy timeout,
// foreign keys on, immediate write transactions; mode=ro plus query_only for
// read-only handles.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeoutMS))
	q.Set("_foreign_keys", "on")
	if readOnly {
		q.Set("mode", "ro")
		q.Set("_query_only", "true")
	} else {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "NORMAL")
		q.Set("_txlock", "immediate")
	}
	// SQLite URI filenames decode %HH escapes; only the characters that
	// would end the path part need escaping.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + q.Encode()
}

// Path returns the file the database was opened from.
func (d *DB) Path() string { return d.path }

// Close closes the database.
func (d *DB) Close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", d.path, err)
	}
	return nil
}

// Tx is one write transaction, handed to the function given to DB.Write.
type Tx struct {
	tx *sql.Tx
}

// Write runs fn inside one BEGIN IMMEDIATE transaction and commits it when fn
// returns nil; otherwise (or on a panic) it rolls back and returns fn's
// error. Write waits for other writers up to the busy timeout.
func (d *DB) Write(ctx context.Context, fn func(tx *Tx) error) (err error) {
	if d.readOnly {
		return fmt.Errorf("store: %s is open read-only", d.path)
	}
	sqlTx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin on %s: %w", d.path, err)
	}
	committed := false
	defer func() {
		if !committed {
			sqlTx.Rollback()
		}
	}()
	if err := fn(&Tx{tx: sqlTx}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit on %s: %w", d.path, err)
	}
	committed = true
	return nil
}
