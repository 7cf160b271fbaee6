package properties

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Binder maps configuration keys to typed destinations. Build one per config struct,
// then Apply parsed files to it. Keys are case-sensitive, as in RocketMQ.
type Binder struct {
	setters map[string]func(string) error
	ignored map[string]string
}

// NewBinder returns an empty Binder.
func NewBinder() *Binder {
	return &Binder{setters: map[string]func(string) error{}, ignored: map[string]string{}}
}

// Func binds key to a custom parser.
func (b *Binder) Func(key string, set func(value string) error) { b.setters[key] = set }

// String binds key to *p.
func (b *Binder) String(key string, p *string) {
	b.Func(key, func(v string) error { *p = v; return nil })
}

// Int binds key to *p (decimal).
func (b *Binder) Int(key string, p *int) {
	b.Func(key, func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("want an integer, got %q", v)
		}
		*p = n
		return nil
	})
}

// Int64 binds key to *p (decimal).
func (b *Binder) Int64(key string, p *int64) {
	b.Func(key, func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer, got %q", v)
		}
		*p = n
		return nil
	})
}

// Bool binds key to *p; accepts true/false in any case, as Java's Boolean.parseBoolean
// does for "true", but rejects anything else instead of silently reading false.
func (b *Binder) Bool(key string, p *bool) {
	b.Func(key, func(v string) error {
		switch strings.ToLower(v) {
		case "true":
			*p = true
		case "false":
			*p = false
		default:
			return fmt.Errorf("want true or false, got %q", v)
		}
		return nil
	})
}

// Millis binds key, a count of milliseconds as RocketMQ writes durations, to *p.
func (b *Binder) Millis(key string, p *time.Duration) {
	b.Func(key, func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative number of milliseconds, got %q", v)
		}
		*p = time.Duration(n) * time.Millisecond
		return nil
	})
}

// Seconds binds key, a count of seconds, to *p.
func (b *Binder) Seconds(key string, p *time.Duration) {
	b.Func(key, func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative number of seconds, got %q", v)
		}
		*p = time.Duration(n) * time.Second
		return nil
	})
}

// Enum binds key to *p, accepting only the listed values.
func (b *Binder) Enum(key string, p *string, allowed ...string) {
	b.Func(key, func(v string) error {
		for _, a := range allowed {
			if v == a {
				*p = v
				return nil
			}
		}
		return fmt.Errorf("want one of %s, got %q", strings.Join(allowed, ", "), v)
	})
}

// Ignore declares keys RocketMQ knows but Petrel does not use (thread-pool sizes,
// Netty buffer tuning, ...). Apply reports them separately from unknown keys so the
// caller can say "accepted, no effect" rather than "unknown".
func (b *Binder) Ignore(reason string, keys ...string) {
	for _, k := range keys {
		b.ignored[k] = reason
	}
}

// Known reports whether key is bound.
func (b *Binder) Known(key string) bool { _, ok := b.setters[key]; return ok }

// Result lists what Apply did not bind.
type Result struct {
	Unknown []string          // keys neither bound nor ignored, sorted
	Ignored map[string]string // key -> reason, for keys declared with Ignore
}

// Apply sets every bound key found in f, in file order. It stops at the first bad
// value with an error naming the key, file and line.
func (b *Binder) Apply(f *File) (Result, error) {
	res := Result{Ignored: map[string]string{}}
	seen := map[string]bool{}
	for _, e := range f.Entries {
		set, ok := b.setters[e.Key]
		if !ok {
			if reason, ign := b.ignored[e.Key]; ign {
				res.Ignored[e.Key] = reason
			} else if !seen[e.Key] {
				res.Unknown = append(res.Unknown, e.Key)
			}
			seen[e.Key] = true
			continue
		}
		if err := set(e.Value); err != nil {
			return res, fmt.Errorf("config: %s:%d: key %s: %w", f.Source, e.Line, e.Key, err)
		}
	}
	sort.Strings(res.Unknown)
	return res, nil
}

// Set applies one key=value from a non-file source (a flag or an environment
// variable) and names that source in errors.
func (b *Binder) Set(source, key, value string) error {
	set, ok := b.setters[key]
	if !ok {
		return fmt.Errorf("config: %s: unknown key %s", source, key)
	}
	if err := set(value); err != nil {
		return fmt.Errorf("config: %s: key %s: %w", source, key, err)
	}
	return nil
}
