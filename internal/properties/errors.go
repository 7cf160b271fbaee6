package properties

import (
	"fmt"
	"strings"
)

// KeyError is a bad configuration value, named by its key. A Binder returns it
// for a value that does not parse, with Origin set. A config's Validate returns
// it with Origin empty (libraries do not know where a value came from), and the
// command that loaded the configuration fills Origin in with Binder.Locate.
//
// Err's text names the key (Invalid writes "key K: ..."), so Error reads
// "broker.conf:7: key listenPort: want a TCP port 1-65534, got \"x\"".
type KeyError struct {
	// Key is the key whose value is bad, as the configuration writes it.
	Key string
	// Also lists other keys that set the same value (listenPort and listenAddr
	// both set the listen address); Locate points at whichever was set.
	Also []string
	// Origin is where the value came from: "broker.conf:7", "flag --namesrv",
	// "environment NAMESRV_ADDR"; empty when unknown.
	Origin string
	// Err says what is wrong, naming the key.
	Err error
}

// Invalid returns a KeyError for key whose message is "key <key>: " and the
// formatted text.
func Invalid(key, format string, args ...any) *KeyError {
	return &KeyError{Key: key, Err: fmt.Errorf("key %s: %s", key, fmt.Sprintf(format, args...))}
}

func (e *KeyError) Error() string {
	if e.Origin == "" {
		return e.Err.Error()
	}
	return e.Origin + ": " + e.Err.Error()
}

func (e *KeyError) Unwrap() error { return e.Err }

// UnknownKeyError is a key in a configuration file that is neither bound, nor
// declared with Ignore, nor (when the Binder accepts them) a RocketMQ key: most
// often a typo, which would otherwise leave the setting at its default.
type UnknownKeyError struct {
	Source string // file name
	Line   int    // 1-based line of the key's first occurrence
	Key    string
	// Suggestion is the nearest known key, or "" when none is close.
	Suggestion string
}

func (e *UnknownKeyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: unknown key %s", e.Source, e.Line, e.Key)
	if e.Suggestion != "" {
		fmt.Fprintf(&b, " (did you mean %s?)", e.Suggestion)
	} else {
		b.WriteString(" (neither a Petrel nor a RocketMQ key)")
	}
	return b.String()
}

// nearest returns the candidate closest to key by edit distance (ignoring case,
// a transposition counting as one edit), or "" when none is within
// max(2, len(key)/4) edits. Ties go to the first candidate in preferred, then
// to the alphabetically first.
func nearest(key string, preferred func(string) bool, candidates []string) string {
	limit := max(2, len(key)/4)
	lk := strings.ToLower(key)
	best, bestD := "", limit+1
	for _, c := range candidates {
		d := editDistance(lk, strings.ToLower(c))
		better := d < bestD ||
			d == bestD && best != "" && (preferred(c) && !preferred(best) ||
				preferred(c) == preferred(best) && c < best)
		if d <= limit && better {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b
// (insertions, deletions, substitutions and adjacent transpositions, in bytes).
func editDistance(a, b string) int {
	// Three rows: i-2, i-1, i.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
