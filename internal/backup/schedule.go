package backup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/config"
)

// Next is the first time after t at which schedule (backup.schedule) is
// due, as systemd reads the shorthand in a timer's OnCalendar=: hourly at
// minute 0, daily at midnight, weekly on Monday at midnight, monthly on
// the 1st at midnight, in t's location.
func Next(schedule string, t time.Time) time.Time {
	y, mo, d := t.Date()
	loc := t.Location()
	switch schedule {
	case config.ScheduleHourly:
		return time.Date(y, mo, d, t.Hour(), 0, 0, 0, loc).Add(time.Hour)
	case config.ScheduleWeekly:
		days := (8 - int(t.Weekday())) % 7 // to the next Monday
		if days == 0 {
			days = 7
		}
		return time.Date(y, mo, d+days, 0, 0, 0, 0, loc)
	case config.ScheduleMonthly:
		return time.Date(y, mo+1, 1, 0, 0, 0, 0, loc)
	default: // daily
		return time.Date(y, mo, d+1, 0, 0, 0, 0, loc)
	}
}

// Ticker makes the scheduled backups where systemd does not (the agent
// runs it when systemd is not PID 1; on a device devmgr-backup.timer does
// the same). Its clock is injected.
type Ticker struct {
	Schedule string                               // backup.schedule
	Now      func() time.Time                     // required
	After    func(time.Duration) <-chan time.Time // required (time.After)
	// Last returns when the newest scheduled backup was made (ok false:
	// none): a boundary passed since then is made up at once, as
	// Persistent=true does for the timer.
	Last func() (time.Time, bool)
	// Run makes a backup and prunes (RunScheduled); its error is logged by
	// Run itself and does not stop the ticker.
	Run func(ctx context.Context)
}

// Loop runs t until ctx is done.
func (t Ticker) Loop(ctx context.Context) error {
	now := t.Now()
	due := Next(t.Schedule, now)
	if t.Last != nil {
		if last, ok := t.Last(); ok && !Next(t.Schedule, last).After(now) {
			due = now // a boundary passed without a backup
		}
	}
	for {
		if wait := due.Sub(t.Now()); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.After(wait):
			}
			continue // the clock may have moved otherwise than asked
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t.Run(ctx)
		due = Next(t.Schedule, t.Now())
	}
}

// Auditor records what a scheduled backup did (the agent's audit log:
// auditlog.Log.Append).
type Auditor func(ctx context.Context, e auditlog.Entry) error

// ActCreate is the audit action of a backup being made.
const ActCreate = "backup.create"

// RunScheduled makes a scheduled backup into o.Dir and prunes the
// scheduled ones to keep; the result goes to audit ("ok" naming the file,
// or "failed" saying why), and the error is returned too.
func RunScheduled(ctx context.Context, o CreateOptions, keep int, audit Auditor) error {
	o.Kind, o.Output = KindScheduled, ""
	info, err := Create(ctx, o)
	var removed []string
	if err == nil {
		removed, err = Prune(o.Dir, keep)
	}
	e := auditlog.Entry{User: "scheduler", Source: "local", Action: ActCreate, Target: o.Dir, Result: auditlog.ResultOK}
	if err != nil {
		e.Result, e.Detail = auditlog.ResultFailed, err.Error()
		err = fmt.Errorf("scheduled backup: %w", err)
	} else {
		e.Target = info.Name
		e.Detail = fmt.Sprintf("%d bytes", info.Size)
		if len(removed) > 0 {
			e.Detail += "; removed " + strings.Join(removed, ", ")
		}
	}
	if audit != nil {
		if aerr := audit(ctx, e); aerr != nil {
			o.log().Error("writing audit entry", "action", ActCreate, "err", aerr)
		}
	}
	return err
}
