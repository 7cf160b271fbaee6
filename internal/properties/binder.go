package properties

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Binder maps configuration keys to typed destinations. Build one per config struct,
// then Apply parsed files and Set flag or environment values to it. Keys are
// case-sensitive, as in RocketMQ. The Binder remembers where each key was last set
// (Origin), so that a validation error found later can point at the file and line
// (Locate), and can list the effective configuration (Settings).
//
// A Binder is not safe for concurrent use.
type Binder struct {
	keys    map[string]*binding
	aliases map[string]string // alias -> canonical key
	ignored map[string]string // key -> why it has no effect
	// classes are the RocketMQ classes of this server (AcceptRocketMQ); nil when
	// RocketMQ keys are not accepted.
	classes []Class
	// set records, per canonical key, where it was last set and the raw value.
	set map[string]setAt
}

type binding struct {
	set func(string) error
	get func() string // nil: unknown rendering
}

type setAt struct {
	origin string
	raw    string
}

// NewBinder returns an empty Binder.
func NewBinder() *Binder {
	return &Binder{
		keys:    map[string]*binding{},
		aliases: map[string]string{},
		ignored: map[string]string{},
		set:     map[string]setAt{},
	}
}

// Func binds key to a custom parser. Give it a Getter so that Settings can show
// its value.
func (b *Binder) Func(key string, set func(value string) error) {
	b.keys[key] = &binding{set: set}
}

// Getter sets how Settings renders key's current value. key must be bound.
func (b *Binder) Getter(key string, get func() string) {
	k, ok := b.keys[key]
	if !ok {
		panic("properties: Getter for unbound key " + key)
	}
	k.get = get
}

func (b *Binder) bind(key string, set func(string) error, get func() string) {
	b.keys[key] = &binding{set: set, get: get}
}

// String binds key to *p.
func (b *Binder) String(key string, p *string) {
	b.bind(key, func(v string) error { *p = v; return nil }, func() string { return *p })
}

// Int binds key to *p (decimal).
func (b *Binder) Int(key string, p *int) {
	b.bind(key, func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("want an integer, got %q", v)
		}
		*p = n
		return nil
	}, func() string { return strconv.Itoa(*p) })
}

// Int64 binds key to *p (decimal).
func (b *Binder) Int64(key string, p *int64) {
	b.bind(key, func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer, got %q", v)
		}
		*p = n
		return nil
	}, func() string { return strconv.FormatInt(*p, 10) })
}

// Bool binds key to *p; accepts true/false in any case, as Java's Boolean.parseBoolean
// does for "true", but rejects anything else instead of silently reading false.
func (b *Binder) Bool(key string, p *bool) {
	b.bind(key, func(v string) error {
		x, err := ParseBool(v)
		if err != nil {
			return err
		}
		*p = x
		return nil
	}, func() string { return strconv.FormatBool(*p) })
}

// ParseBool parses a boolean value as Bool does: true or false in any case.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", v)
}

// Millis binds key, a count of milliseconds as RocketMQ writes durations, to *p.
func (b *Binder) Millis(key string, p *time.Duration) {
	b.bind(key, func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative number of milliseconds, got %q", v)
		}
		*p = time.Duration(n) * time.Millisecond
		return nil
	}, func() string { return strconv.FormatInt(p.Milliseconds(), 10) })
}

// Seconds binds key, a count of seconds, to *p.
func (b *Binder) Seconds(key string, p *time.Duration) {
	b.bind(key, func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative number of seconds, got %q", v)
		}
		*p = time.Duration(n) * time.Second
		return nil
	}, func() string { return strconv.FormatInt(int64(*p/time.Second), 10) })
}

// Enum binds key to *p, accepting only the listed values.
func (b *Binder) Enum(key string, p *string, allowed ...string) {
	b.bind(key, func(v string) error {
		for _, a := range allowed {
			if v == a {
				*p = v
				return nil
			}
		}
		return fmt.Errorf("want one of %s, got %q", strings.Join(allowed, ", "), v)
	}, func() string { return *p })
}

// Alias makes alias another spelling of the bound key (RocketMQ before 4.5
// wrote mapedFileSizeCommitLog, 4.5 and later mappedFileSizeCommitLog). A value
// set through the alias counts as set for key (Origin, Settings, Locate).
func (b *Binder) Alias(alias, key string) {
	if _, ok := b.keys[key]; !ok {
		panic("properties: Alias for unbound key " + key)
	}
	b.aliases[alias] = key
}

// Ignore declares keys Petrel accepts but does not use, with the reason; Apply
// reports them in Result.Ignored so the caller can say "accepted, no effect".
// The reason overrides the generic one AcceptRocketMQ gives RocketMQ keys.
func (b *Binder) Ignore(reason string, keys ...string) {
	for _, k := range keys {
		b.ignored[k] = reason
	}
}

// IgnoredKeys returns the keys declared with Ignore, sorted.
func (b *Binder) IgnoredKeys() []string { return slices.Sorted(maps.Keys(b.ignored)) }

// AcceptRocketMQ makes Apply accept every RocketMQ key (RocketMQClasses) that is
// not bound, reporting it in Result.Ignored as having no effect rather than as
// unknown, so that real RocketMQ configuration files load. classes are the
// classes this server reads in RocketMQ; they only shape the reason given.
func (b *Binder) AcceptRocketMQ(classes ...Class) {
	b.classes = append([]Class{}, classes...)
}

// Known reports whether key is bound (directly or as an alias).
func (b *Binder) Known(key string) bool { return b.lookup(key) != nil }

func (b *Binder) canonical(key string) string {
	if k, ok := b.aliases[key]; ok {
		return k
	}
	return key
}

func (b *Binder) lookup(key string) *binding { return b.keys[b.canonical(key)] }

// ignoredReason says why key has no effect, and false when it is not accepted.
func (b *Binder) ignoredReason(key string) (string, bool) {
	if why, ok := b.ignored[key]; ok {
		return why, true
	}
	if b.classes == nil {
		return "", false
	}
	cls := RocketMQClasses(key)
	if len(cls) == 0 {
		return "", false
	}
	names := make([]string, len(cls))
	for i, c := range cls {
		names[i] = string(c)
		if c == Controller {
			return "RocketMQ 5 controller-mode key that this server does not use (it belongs in broker.conf or controller.conf)", true
		}
	}
	for _, c := range cls {
		if slices.Contains(b.classes, c) {
			return "RocketMQ " + strings.Join(names, "/") + " key that Petrel does not implement", true
		}
	}
	return "RocketMQ " + strings.Join(names, "/") + " key, which this server does not read (nor does RocketMQ's)", true
}

// Result lists what Apply did not bind.
type Result struct {
	// Unknown lists the keys neither bound, ignored nor (with AcceptRocketMQ)
	// RocketMQ's, sorted, each once. Err describes them.
	Unknown []string
	// Ignored maps each accepted key that has no effect to the reason.
	Ignored map[string]string

	unknown []*UnknownKeyError // in file order
}

// Err returns nil when there are no unknown keys, and otherwise one
// *UnknownKeyError per unknown key (file, line, nearest known key), joined with
// errors.Join in file order.
func (r Result) Err() error {
	errs := make([]error, len(r.unknown))
	for i, e := range r.unknown {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Apply sets every bound key found in f, in file order, and records each as set
// at "<f.Source>:<line>". It stops at the first bad value with a *KeyError naming
// the key, file and line. Unknown keys do not stop it: they are listed in the
// Result (see Result.Err).
func (b *Binder) Apply(f *File) (Result, error) {
	res := Result{Ignored: map[string]string{}}
	seen := map[string]bool{}
	for _, e := range f.Entries {
		where := fmt.Sprintf("%s:%d", f.Source, e.Line)
		bd := b.lookup(e.Key)
		if bd == nil {
			if why, ok := b.ignoredReason(e.Key); ok {
				res.Ignored[e.Key] = why
			} else if !seen[e.Key] {
				res.Unknown = append(res.Unknown, e.Key)
				res.unknown = append(res.unknown, &UnknownKeyError{
					Source: f.Source, Line: e.Line, Key: e.Key, Suggestion: b.suggest(e.Key),
				})
			}
			seen[e.Key] = true
			continue
		}
		if err := bd.set(e.Value); err != nil {
			return res, &KeyError{Key: e.Key, Origin: where, Err: fmt.Errorf("key %s: %w", e.Key, err)}
		}
		b.set[b.canonical(e.Key)] = setAt{origin: where, raw: e.Value}
	}
	sort.Strings(res.Unknown)
	return res, nil
}

// suggest returns the known key nearest to key, preferring keys Petrel binds.
func (b *Binder) suggest(key string) string {
	cands := slices.Collect(maps.Keys(b.keys))
	cands = slices.AppendSeq(cands, maps.Keys(b.aliases))
	cands = slices.AppendSeq(cands, maps.Keys(b.ignored))
	if b.classes != nil {
		cands = slices.AppendSeq(cands, maps.Keys(rocketMQKeys()))
	}
	return nearest(key, b.Known, cands)
}

// Set applies one key=value from a non-file source and records it as set there.
// source names it in errors and in Origin: "flag --namesrv", "environment
// NAMESRV_ADDR". A bad value returns a *KeyError.
func (b *Binder) Set(source, key, value string) error {
	bd := b.lookup(key)
	if bd == nil {
		return fmt.Errorf("%s: unknown key %s", source, key)
	}
	if err := bd.set(value); err != nil {
		return &KeyError{Key: key, Origin: source, Err: fmt.Errorf("key %s: %w", key, err)}
	}
	b.set[b.canonical(key)] = setAt{origin: source, raw: value}
	return nil
}

// Origin returns where key (or its alias) was last set by Apply or Set, or ""
// when it keeps the value it had before (its default).
func (b *Binder) Origin(key string) string { return b.set[b.canonical(key)].origin }

// Locate returns err with its *KeyError pointing at where the bad value came
// from: when err wraps a *KeyError without an Origin, the result is that
// KeyError (without err's other wrapping) with Origin set to where its Key, or
// else the first of its Also keys that was set, was last set. Any other err,
// or one whose keys kept their defaults, is returned unchanged.
func (b *Binder) Locate(err error) error {
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Origin != "" {
		return err
	}
	for _, k := range append([]string{ke.Key}, ke.Also...) {
		if o := b.Origin(k); o != "" {
			out := *ke
			out.Origin = o
			return &out
		}
	}
	return err
}

// Setting is one key of the effective configuration.
type Setting struct {
	Key string
	// Value is the current value as the configuration writes it (for a key
	// bound with Func and no Getter, the raw value last set, or "" if none).
	Value string
	// Origin is where it was set, or "" for a default.
	Origin string
}

// Settings returns every bound key (aliases under their canonical key) with its
// current value and origin, sorted by key. Call it after validation to log the
// effective configuration.
func (b *Binder) Settings() []Setting {
	out := make([]Setting, 0, len(b.keys))
	for _, k := range slices.Sorted(maps.Keys(b.keys)) {
		s := Setting{Key: k, Origin: b.set[k].origin}
		if g := b.keys[k].get; g != nil {
			s.Value = g()
		} else {
			s.Value = b.set[k].raw
		}
		out = append(out, s)
	}
	return out
}
