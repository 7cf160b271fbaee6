package properties

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Entry is one key=value pair with where it came from.
type Entry struct {
	Key, Value string
	Line       int // 1-based line where the entry starts
}

// File is a parsed properties file. Later entries for the same key win, as in Java.
type File struct {
	Source  string // file name, for error messages
	Entries []Entry
}

// Get returns the last value for key.
func (f *File) Get(key string) (string, bool) {
	for i := len(f.Entries) - 1; i >= 0; i-- {
		if f.Entries[i].Key == key {
			return f.Entries[i].Value, true
		}
	}
	return "", false
}

// Load reads and parses a properties file.
func Load(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer fh.Close()
	return Parse(path, fh)
}

// maxLine bounds one logical line so a garbage file cannot exhaust memory.
const maxLine = 1 << 20

// Parse parses properties text. source names the input in errors.
func Parse(source string, r io.Reader) (*File, error) {
	f := &File{Source: source}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	lineNo := 0
	var logical strings.Builder
	start := 0
	for sc.Scan() {
		lineNo++
		raw := sc.Text()
		if !utf8.ValidString(raw) {
			return nil, fmt.Errorf("config: %s:%d: not valid UTF-8", source, lineNo)
		}
		line := strings.TrimLeft(raw, " \t\f")
		if logical.Len() == 0 {
			if line == "" || line[0] == '#' || line[0] == '!' {
				continue
			}
			start = lineNo
		}
		if continues(line) {
			logical.WriteString(line[:len(line)-1])
			if logical.Len() > maxLine {
				return nil, fmt.Errorf("config: %s:%d: line too long", source, start)
			}
			continue
		}
		logical.WriteString(line)
		e, err := parseEntry(logical.String())
		if err != nil {
			return nil, fmt.Errorf("config: %s:%d: %w", source, start, err)
		}
		e.Line = start
		f.Entries = append(f.Entries, e)
		logical.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config: %s:%d: %w", source, lineNo+1, err)
	}
	if logical.Len() > 0 {
		e, err := parseEntry(logical.String())
		if err != nil {
			return nil, fmt.Errorf("config: %s:%d: %w", source, start, err)
		}
		e.Line = start
		f.Entries = append(f.Entries, e)
	}
	return f, nil
}

// continues reports whether a line ends in an odd number of backslashes.
func continues(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func parseEntry(s string) (Entry, error) {
	// The key ends at the first unescaped '=', ':' or whitespace.
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		i++
	}
	if i > len(s) {
		i = len(s)
	}
	rawKey := s[:i]
	rest := strings.TrimLeft(s[i:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	key, err := unescape(rawKey)
	if err != nil {
		return Entry{}, err
	}
	val, err := unescape(rest)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Key: key, Value: strings.TrimRight(val, " \t\f\r")}, nil
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf("malformed \\u escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
			if err != nil {
				return "", fmt.Errorf("malformed \\u escape %q", s[i-1:i+5])
			}
			b.WriteRune(rune(v))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
