package console

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// User is an account of the console's login (Config.Users).
type User struct {
	Name     string
	Password string
	// Admin may change things (create, update and delete topics, send,
	// reset offsets, resend dead letters); other users only read.
	Admin bool
}

// ParseUsers reads a users file in the form of RocketMQ dashboard's
// users.properties: one "name=password" or "name=password,1" a line (",1":
// an admin; ",0": read-only, as no suffix), '#' or '!' starting a comment,
// blank lines ignored. A password may hold ',' when it is not followed by
// a lone 0 or 1 at the end. Errors name the line, never the password.
func ParseUsers(r io.Reader) ([]User, error) {
	var out []User
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		name, pass, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("console: users line %d: want name=password[,1]", n)
		}
		u := User{Name: name, Password: strings.TrimSpace(pass)}
		if i := strings.LastIndexByte(u.Password, ','); i >= 0 {
			switch strings.TrimSpace(u.Password[i+1:]) {
			case "1":
				u.Admin, u.Password = true, u.Password[:i]
			case "0":
				u.Password = u.Password[:i]
			}
		}
		if u.Password == "" {
			return nil, fmt.Errorf("console: users line %d: user %s has an empty password", n, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("console: users line %d: user %s given twice", n, name)
		}
		seen[name] = true
		out = append(out, u)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("console: users: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("console: users: no user")
	}
	return out, nil
}

// sessionCookie names the console's session cookie.
const sessionCookie = "petrel_console_session"

// Login limits: sessions kept at once, failed logins per client address and
// minute before it is refused for the rest of the minute.
const (
	maxSessions   = 10000
	maxFailures   = 10
	failureWindow = time.Minute
)

type session struct {
	user    string
	admin   bool
	expires time.Time
}

// auth holds the login's users and sessions. Safe for concurrent use.
type auth struct {
	users map[string]User
	ttl   time.Duration

	mu       sync.Mutex
	sessions map[string]session // by token
	failures map[string][]time.Time
}

func newAuth(users []User, ttl time.Duration) *auth {
	a := &auth{users: map[string]User{}, ttl: ttl, sessions: map[string]session{}, failures: map[string][]time.Time{}}
	for _, u := range users {
		a.users[u.Name] = u
	}
	return a
}

// check compares in time independent of where the password differs, and
// compares against a dummy for unknown users.
func (a *auth) check(name, password string) (User, bool) {
	u, ok := a.users[name]
	want := sha256.Sum256([]byte(u.Password))
	got := sha256.Sum256([]byte(password))
	eq := subtle.ConstantTimeCompare(want[:], got[:]) == 1
	return u, ok && eq
}

// throttled reports whether client has failed too often in the last minute.
func (a *auth) throttled(client string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	fs := a.failures[client]
	for len(fs) > 0 && now.Sub(fs[0]) > failureWindow {
		fs = fs[1:]
	}
	if len(fs) == 0 {
		delete(a.failures, client)
	} else {
		a.failures[client] = fs
	}
	return len(fs) >= maxFailures
}

func (a *auth) failed(client string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) > maxSessions {
		clear(a.failures)
	}
	a.failures[client] = append(a.failures[client], now)
}

func (a *auth) start(u User, now time.Time) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	tok := hex.EncodeToString(b[:])
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, s := range a.sessions {
		if now.After(s.expires) {
			delete(a.sessions, k)
		}
	}
	if len(a.sessions) >= maxSessions {
		var oldest string
		for k, s := range a.sessions {
			if oldest == "" || s.expires.Before(a.sessions[oldest].expires) {
				oldest = k
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[tok] = session{user: u.Name, admin: u.Admin, expires: now.Add(a.ttl)}
	return tok
}

func (a *auth) session(r *http.Request, now time.Time) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[c.Value]
	if !ok || now.After(s.expires) {
		delete(a.sessions, c.Value)
		return session{}, false
	}
	return s, true
}

func (a *auth) end(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
}

// public are the paths served without a session: the login page and what
// it loads.
var public = map[string]bool{"/login.html": true, "/login.js": true, "/style.css": true, "/favicon.ico": true}

// guard requires a session for every page and API but the login's when the
// login is on; read-only users may only GET (and log out).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.auth == nil || public[r.URL.Path] || r.URL.Path == "/api/login" {
			next.ServeHTTP(w, r)
			return
		}
		sess, ok := s.auth.session(r, time.Now())
		if !ok {
			if strings.HasPrefix(r.URL.Path, "/api/") {
				s.writeErr(w, r, &apiError{status: http.StatusUnauthorized, msg: "login required"})
				return
			}
			http.Redirect(w, r, "/login.html", http.StatusSeeOther)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !sess.admin && r.URL.Path != "/api/logout" {
			s.writeErr(w, r, &apiError{status: http.StatusForbidden,
				msg: "user " + sess.user + " may only read (an admin has ,1 after the password in the users file)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// login checks a user's password (POST {"user","password"}) and starts a
// session: the cookie petrel_console_session (HttpOnly, SameSite=Strict).
// A wrong name or password is refused alike with 401; after 10 failures
// in a minute from one address, 429 for the rest of the minute.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.auth == nil {
		s.writeErr(w, r, badRequest("the console has no login (start it with a users file)"))
		return
	}
	var req struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := decodeBody(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	now := time.Now()
	if s.auth.throttled(client, now) {
		s.writeErr(w, r, &apiError{status: http.StatusTooManyRequests, msg: "too many failed logins: wait a minute"})
		return
	}
	u, ok := s.auth.check(req.User, req.Password)
	if !ok {
		s.auth.failed(client, now)
		// An unknown name is not logged: it may be a password typed in
		// the wrong field.
		if _, known := s.auth.users[req.User]; known {
			s.log.Warn("console: login refused: wrong password", "user", req.User, "from", client)
		} else {
			s.log.Warn("console: login refused: unknown user", "from", client)
		}
		s.writeErr(w, r, &apiError{status: http.StatusUnauthorized, msg: "wrong user name or password"})
		return
	}
	tok := s.auth.start(u, now)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.auth.ttl / time.Second)})
	s.log.Info("console: login", "user", u.Name, "from", client)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"user": u.Name, "admin": u.Admin})
}

// logout ends the session (POST) and clears the cookie.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if s.auth != nil {
		s.auth.end(r)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{\"loggedOut\":true}\n")
}

// whoami tells the pages whether the login is on and who is logged in.
func (s *Server) whoami(_ context.Context, r *http.Request) (any, error) {
	if s.auth == nil {
		return map[string]any{"login": false}, nil
	}
	sess, _ := s.auth.session(r, time.Now())
	return map[string]any{"login": true, "user": sess.user, "admin": sess.admin}, nil
}
