package auth

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// Extension field names of a signed request.
const (
	FieldAccessKey     = "AccessKey"
	FieldSignature     = "Signature"
	FieldSecurityToken = "SecurityToken"
)

// Credentials are an ACL account's keys. The zero value signs nothing.
type Credentials struct {
	// AccessKey names the account (plain_acl.yml accessKey).
	AccessKey string
	// SecretKey keys the HMAC (plain_acl.yml secretKey). Never logged.
	SecretKey string
	// SecurityToken is optional; when set it is sent and signed.
	SecurityToken string
}

// Empty reports whether c lacks an access key or a secret key: such
// credentials sign nothing (as rocketmq-client-go's Credentials.IsEmpty).
func (c Credentials) Empty() bool { return c.AccessKey == "" || c.SecretKey == "" }

// String returns the access key only, so that credentials printed by mistake
// never show the secret.
func (c Credentials) String() string { return "auth.Credentials{AccessKey: " + c.AccessKey + "}" }

// Sign adds AccessKey, SecurityToken (if set) and Signature to cmd's extension
// fields. Call it after the last change to the fields and the body. Signing
// again replaces the signature. Empty credentials leave cmd unchanged.
func (c Credentials) Sign(cmd *protocol.Command) {
	if c.Empty() {
		return
	}
	cmd.SetExt(FieldAccessKey, c.AccessKey)
	if c.SecurityToken != "" {
		cmd.SetExt(FieldSecurityToken, c.SecurityToken)
	}
	cmd.SetExt(FieldSignature, Sign(cmd.ExtFields, cmd.Body, c.SecretKey))
}

// Sign returns the signature of ext and body with secretKey:
// Signature(Content(ext, body, skip...), secretKey), computed without
// copying the content.
func Sign(ext map[string]string, body []byte, secretKey string, skip ...string) string {
	m := hmac.New(sha1.New, []byte(secretKey))
	for _, k := range sortedKeys(ext, skip) {
		_, _ = io.WriteString(m, ext[k])
	}
	m.Write(body)
	var sum [sha1.Size]byte
	return base64.StdEncoding.EncodeToString(m.Sum(sum[:0]))
}

// sortedKeys returns the keys of ext but Signature and skip, in Java's
// String order.
func sortedKeys(ext map[string]string, skip []string) []string {
	keys := make([]string, 0, len(ext))
	for k := range ext {
		if k == FieldSignature || slices.Contains(skip, k) {
			continue
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareUTF16)
	return keys
}

// Content returns the bytes a signature covers: the values of ext in
// ascending order of their keys, except Signature and the keys in skip,
// followed by body. Keys are ordered as Java orders Strings (by UTF-16 code
// unit), which for the ASCII keys of the wire headers is byte order. The
// result is a new slice.
func Content(ext map[string]string, body []byte, skip ...string) []byte {
	keys := sortedKeys(ext, skip)
	n := len(body)
	for _, k := range keys {
		n += len(ext[k])
	}
	out := make([]byte, 0, n)
	for _, k := range keys {
		out = append(out, ext[k]...)
	}
	return append(out, body...)
}

// Signature returns base64(HMAC-SHA1(secretKey, content)).
func Signature(content []byte, secretKey string) string {
	m := hmac.New(sha1.New, []byte(secretKey))
	m.Write(content)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Equal compares two signatures in constant time.
func Equal(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// compareUTF16 orders strings as java.lang.String.compareTo does: by UTF-16
// code unit. It differs from byte order only when a character above U+FFFF
// meets one in U+E000..U+FFFF at the same position.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			ua, ub := firstUnit(ra), firstUnit(rb)
			if ua != ub {
				return int(ua) - int(ub)
			}
			return int(ra) - int(rb) // both above U+FFFF with the same high surrogate
		}
		if c := strings.Compare(a[:na], b[:nb]); c != 0 {
			// Two different invalid bytes both decode as U+FFFD: order them
			// by byte so that the order stays total (and the content
			// deterministic).
			return c
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

// firstUnit returns the first UTF-16 code unit of r.
func firstUnit(r rune) rune {
	if r >= 0x10000 {
		return 0xD800 + (r-0x10000)>>10
	}
	return r
}
