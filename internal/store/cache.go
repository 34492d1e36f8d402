package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// freshInterval bounds how long a cached row outlives a change that
// another process made (devmgr user passwd or del, token revoke, a backup
// restore's child): the cache asks SQLite whether any other connection
// wrote at most this often.
const freshInterval = time.Second

// maxCachedSessions bounds the sessions kept in memory; past it a session
// is read from the table each time, as without the cache.
const maxCachedSessions = 4096

// cache holds what every authenticated request reads: sessions by the
// hash of their token, users by ID and live API tokens by hash, so that a
// read asks SQLite nothing. It is write-through: each method of DB that
// writes one of those rows puts the new row in, or takes it out, after
// the write committed and in the order of the writes (wmu). A method
// added later that writes those tables must do the same; until it does,
// the data_version check below still drops its stale rows within
// freshInterval.
//
// Other processes write the same file. SQLite's PRAGMA data_version, read
// on a connection of the cache's own that never writes, changes whenever
// any other connection committed, in this process or another; it is read
// at most once per freshInterval, and when it moved every entry is
// dropped. Once SQL has handed out the pool, through which anything may
// be written behind the cache's back, it is read before every lookup.
//
// A lookup that misses reads the row and keeps it only if no write and no
// drop happened since it began (gen), so a row read before a change is
// never kept after it.
type cache struct {
	wmu sync.Mutex // orders the writes with their cache updates

	mu       sync.RWMutex // guards the fields below
	gen      uint64       // moves with every write and drop
	sessions map[[sha256.Size]byte]cachedSession
	users    map[int64]User
	tokens   map[[sha256.Size]byte]Token

	// The data_version check.
	check   sync.Mutex // held while reading it
	conn    *sql.Conn  // never writes: only others' commits move its data_version
	version int64
	next    atomic.Int64 // Unix nanoseconds of the next read of it
	always  atomic.Bool  // read it before every lookup (SQL was called)
}

type cachedSession struct {
	data   []byte
	expiry int64 // Unix nanoseconds
}

// openCache reserves the cache's connection and reads the first version.
func (db *DB) openCache(ctx context.Context) error {
	c := &cache{}
	c.clear()
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("opening the cache's connection: %w", err)
	}
	c.conn = conn
	if c.version, err = dataVersion(ctx, conn); err != nil {
		conn.Close()
		return err
	}
	c.next.Store(db.now().Add(freshInterval).UnixNano())
	db.cache = c
	return nil
}

func dataVersion(ctx context.Context, conn *sql.Conn) (int64, error) {
	var v int64
	if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the database's data_version: %w", err)
	}
	return v, nil
}

// clear drops every entry. The caller holds mu, or owns c alone.
func (c *cache) clear() {
	c.gen++
	c.sessions = map[[sha256.Size]byte]cachedSession{}
	c.users = map[int64]User{}
	c.tokens = map[[sha256.Size]byte]Token{}
}

// fresh drops every entry when another connection has written since the
// last look, looking at most once per freshInterval (every time once SQL
// was called). An error reading the version drops everything too: the
// lookup then reads the table.
func (db *DB) fresh(ctx context.Context) {
	c := db.cache
	now := db.now().UnixNano()
	always := c.always.Load()
	if !always {
		next := c.next.Load()
		// A clock set back looks again too.
		if now < next && next-now <= int64(freshInterval) {
			return
		}
		if !c.check.TryLock() {
			return // another request is looking
		}
	} else {
		c.check.Lock()
	}
	defer c.check.Unlock()
	v, err := dataVersion(ctx, c.conn)
	if err != nil {
		db.log.Warn("checking the database for others' writes", "err", err)
	}
	if err != nil || v != c.version {
		c.mu.Lock()
		c.clear()
		c.mu.Unlock()
		c.version = v
	}
	c.next.Store(now + int64(freshInterval))
}

// Reread has the next lookup look for other connections' writes first,
// rather than within a second: another process has just written the
// accounts (the agent's restore of a backup runs the console's part as
// its own process).
func (db *DB) Reread() {
	if db.cache != nil {
		db.cache.next.Store(0)
	}
}

// generation is the cache's generation, read before a miss reads the table.
func (c *cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// write runs w, a write of cached rows, then update with its error, in
// the order of the writes and holding mu: update puts in what w wrote, or
// takes out what it may have changed when it failed. The generation moves
// either way, so that no lookup that began before keeps what it read.
func (c *cache) write(w func() error, update func(err error)) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	err := w()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	update(err)
	return err
}

func (db *DB) closeCache() error {
	if db.cache == nil || db.cache.conn == nil {
		return nil
	}
	return db.cache.conn.Close()
}

// The sessions.

func (c *cache) session(key [sha256.Size]byte) (cachedSession, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.sessions[key]
	return s, ok
}

func (c *cache) keepSession(gen uint64, key [sha256.Size]byte, s cachedSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen && len(c.sessions) < maxCachedSessions {
		c.sessions[key] = s
	}
}

// dropExpired forgets sessions that expired at now.
func (c *cache) dropExpired(now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.sessions {
		if s.expiry <= now {
			delete(c.sessions, k)
		}
	}
}

// The users.

func (c *cache) user(id int64) (User, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	u, ok := c.users[id]
	return u, ok
}

func (c *cache) keepUser(gen uint64, u User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.users[u.ID] = u
	}
}

// putUser is the update of a write of user id (0: a new one) that returns
// the user in *u: kept when the write succeeded, forgotten when it did not.
func (c *cache) putUser(id int64, u *User) func(error) {
	return func(err error) {
		delete(c.users, id)
		if err == nil {
			c.users[u.ID] = *u
		}
	}
}

// The tokens, kept only while live (not revoked); expiry is checked on
// each lookup.

func (c *cache) token(key [sha256.Size]byte) (Token, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.tokens[key]
	return t.clone(), ok
}

func (c *cache) keepToken(gen uint64, key [sha256.Size]byte, t Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen && !t.Revoked {
		c.tokens[key] = t.clone()
	}
}

// clone copies t's times, so that a caller never changes the cache's.
func (t Token) clone() Token {
	for _, p := range []**time.Time{&t.ExpiresAt, &t.LastUsedAt} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	return t
}

// hashKey is a token hash as a map key; ok is false for one of another
// length, which is then never cached.
func hashKey(hash []byte) (k [sha256.Size]byte, ok bool) {
	if len(hash) != sha256.Size {
		return k, false
	}
	return [sha256.Size]byte(hash), true
}
