package commands

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/sqlitefile"
)

// HistoryFile is the history's database inside agent.state_dir.
const HistoryFile = "commands.db"

// migrations of the history's database; [0] is version 1.
var migrations = []string{`
CREATE TABLE runs (
	id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: the audit log names runs
	command     TEXT    NOT NULL,
	user        TEXT    NOT NULL,
	role        TEXT    NOT NULL,
	source      TEXT    NOT NULL,
	params      TEXT    NOT NULL, -- JSON object
	argv        TEXT    NOT NULL, -- JSON array
	status      TEXT    NOT NULL,
	exit_code   INTEGER NOT NULL,
	error       TEXT    NOT NULL,
	started     INTEGER NOT NULL, -- unix ns
	duration    INTEGER NOT NULL, -- ns
	truncated   INTEGER NOT NULL,
	output_size INTEGER NOT NULL,
	output      TEXT    NOT NULL  -- JSON [{"t": ms after started, "s": text}, ...]
) STRICT;
CREATE INDEX runs_command ON runs (command, id);
CREATE INDEX runs_user ON runs (user, id);
CREATE INDEX runs_status ON runs (status, id);`}

// Retention is how much history is kept: the newest KeepRuns runs, and of
// those only as many as have MaxBytes of output together.
type Retention struct {
	KeepRuns int
	MaxBytes int64
}

// History is the agent's record of command runs, in its state directory
// (root's, 0700): an SQLite database of its own.
type History struct {
	db  *sql.DB
	ret Retention
}

// OpenHistory opens (creating it) the history in dir, the agent's state
// directory. Runs that were running when the agent last stopped are marked
// interrupted.
func OpenHistory(ctx context.Context, dir string, ret Retention) (*History, error) {
	if ret.KeepRuns <= 0 || ret.MaxBytes <= 0 {
		return nil, fmt.Errorf("command history: keep_runs %d and max_size %d must be positive", ret.KeepRuns, ret.MaxBytes)
	}
	db, err := sqlitefile.Open(ctx, filepath.Join(dir, HistoryFile), "command history", migrations)
	if err != nil {
		return nil, err
	}
	h := &History{db: db, ret: ret}
	if _, err := db.ExecContext(ctx, `UPDATE runs SET status = ?, error = ? WHERE status = ?`,
		StatusInterrupted, errClosed.msg, StatusRunning); err != nil {
		db.Close()
		return nil, fmt.Errorf("marking interrupted runs: %w", err)
	}
	if err := h.prune(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return h, nil
}

// Close closes the database.
func (h *History) Close() error { return h.db.Close() }

// Begin implements Recorder.
func (h *History) Begin(ctx context.Context, r Record) (int64, error) {
	params, err := json.Marshal(r.Params)
	if err != nil {
		return 0, err
	}
	argv, err := json.Marshal(r.Argv)
	if err != nil {
		return 0, err
	}
	res, err := h.db.ExecContext(ctx, `INSERT INTO runs
		(command, user, role, source, params, argv, status, exit_code, error, started, duration, truncated, output_size, output)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, '[]')`,
		r.Command, r.User, string(r.Role), r.Source, string(params), string(argv), string(r.Status), r.ExitCode, r.Error, r.Started.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("recording a run of %s: %w", r.Command, err)
	}
	return res.LastInsertId()
}

// Finish implements Recorder, then removes what the retention no longer
// keeps.
func (h *History) Finish(ctx context.Context, r Record) error {
	out := make([]storedLine, len(r.Output))
	for i, l := range r.Output {
		out[i] = storedLine{l.Time.Sub(r.Started).Milliseconds(), l.Text}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = h.db.ExecContext(ctx, `UPDATE runs SET status = ?, exit_code = ?, error = ?, duration = ?, truncated = ?,
		output_size = ?, output = ? WHERE id = ?`,
		string(r.Status), r.ExitCode, r.Error, int64(r.Duration), r.Truncated, r.OutputSize, string(b), r.ID)
	if err != nil {
		return fmt.Errorf("recording the end of run %d: %w", r.ID, err)
	}
	return h.prune(ctx)
}

// prune removes the oldest runs beyond KeepRuns, then the oldest runs
// whose output does not fit in MaxBytes with the newer ones'.
func (h *History) prune(ctx context.Context) error {
	if _, err := h.db.ExecContext(ctx, `DELETE FROM runs WHERE id IN
		(SELECT id FROM runs ORDER BY id DESC LIMIT -1 OFFSET ?)`, h.ret.KeepRuns); err != nil {
		return fmt.Errorf("capping the command history at %d runs: %w", h.ret.KeepRuns, err)
	}
	if _, err := h.db.ExecContext(ctx, `DELETE FROM runs WHERE id <=
		(SELECT id FROM (SELECT id, SUM(output_size) OVER (ORDER BY id DESC) AS total FROM runs)
		 WHERE total > ? ORDER BY id DESC LIMIT 1)`, h.ret.MaxBytes); err != nil {
		return fmt.Errorf("capping the command history's output at %d bytes: %w", h.ret.MaxBytes, err)
	}
	return nil
}

// Filter selects runs; empty fields select all.
type Filter struct {
	Command string
	User    string
	Status  Status
	Limit   int // 0: DefaultLimit; at most MaxLimit
	Offset  int
}

// Limits of a page of the history.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Page is one page of the history, newest first, and how many runs the
// filter selects in all.
type Page struct {
	Runs  []Record // without Output
	Total int
}

const recordColumns = `id, command, user, role, source, params, argv, status, exit_code, error, started, duration, truncated, output_size`

// List returns the runs f selects, newest first, without their output.
func (h *History) List(ctx context.Context, f Filter) (Page, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, val string }{{"command", f.Command}, {"user", f.User}, {"status", string(f.Status)}} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var p Page
	if err := h.db.QueryRowContext(ctx, `SELECT count(*) FROM runs`+cond, args...).Scan(&p.Total); err != nil {
		return Page{}, fmt.Errorf("counting command runs: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	rows, err := h.db.QueryContext(ctx, `SELECT `+recordColumns+` FROM runs`+cond+` ORDER BY id DESC LIMIT ? OFFSET ?`,
		append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return Page{}, fmt.Errorf("listing command runs: %w", err)
	}
	defer rows.Close()
	p.Runs = []Record{}
	for rows.Next() {
		r, err := scanRecord(rows, nil)
		if err != nil {
			return Page{}, err
		}
		p.Runs = append(p.Runs, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("listing command runs: %w", err)
	}
	return p, nil
}

// Get returns run id with its output, or ErrNotFound.
func (h *History) Get(ctx context.Context, id int64) (Record, error) {
	var output string
	r, err := scanRecord(h.db.QueryRowContext(ctx, `SELECT `+recordColumns+`, output FROM runs WHERE id = ?`, id), &output)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return Record{}, err
	}
	var lines []storedLine
	if err := json.Unmarshal([]byte(output), &lines); err != nil {
		return Record{}, fmt.Errorf("reading the output of run %d: %w", id, err)
	}
	r.Output = make([]Line, len(lines))
	for i, l := range lines {
		r.Output[i] = Line{Seq: int64(i) + 1, Time: r.Started.Add(time.Duration(l.MS) * time.Millisecond), Text: l.Text}
	}
	return r, nil
}

// storedLine is a line in the history: its time as milliseconds after the
// run started, its sequence number its place.
type storedLine struct {
	MS   int64  `json:"t"`
	Text string `json:"s"`
}

type scanner interface{ Scan(dest ...any) error }

func scanRecord(s scanner, output *string) (Record, error) {
	var r Record
	var role, params, argv, status string
	var started, duration int64
	dest := []any{&r.ID, &r.Command, &r.User, &role, &r.Source, &params, &argv, &status, &r.ExitCode, &r.Error,
		&started, &duration, &r.Truncated, &r.OutputSize}
	if output != nil {
		dest = append(dest, output)
	}
	if err := s.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Record{}, err
		}
		return Record{}, fmt.Errorf("reading a command run: %w", err)
	}
	r.Role, r.Status = auth.Role(role), Status(status)
	r.Started, r.Duration = time.Unix(0, started).UTC(), time.Duration(duration)
	if err := json.Unmarshal([]byte(params), &r.Params); err != nil {
		return Record{}, fmt.Errorf("reading the parameters of run %d: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(argv), &r.Argv); err != nil {
		return Record{}, fmt.Errorf("reading the argv of run %d: %w", r.ID, err)
	}
	return r, nil
}
