package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

//go:embed static
var static embed.FS

// Config configures the console.
type Config struct {
	// Addr is where the console listens ("127.0.0.1:8080"; port 0: any).
	Addr string
	// NameServers are the name servers to ask.
	NameServers []string
	// ClientOptions are added to the admin client's: client.WithCredentials
	// for brokers with aclEnable (an admin account), client.WithTLS. Default
	// none.
	ClientOptions []client.Option
	// CacheTTL is how long an answer is reused. Default 3 s.
	CacheTTL time.Duration
	// Parallel bounds the calls to brokers in flight. Default 16.
	Parallel int
	// Timeout bounds one page's calls. Default 10 s.
	Timeout time.Duration
	// SampleInterval is how often the charts sample TPS and lag (an hour of
	// samples is kept). Default 30 s.
	SampleInterval time.Duration
	// Users turns the login on: every page and API then needs a session
	// cookie, got from the login page with one of these accounts
	// (ParseUsers reads them from a users file). Default none: no login.
	Users []User
	// SessionTTL is how long a login lasts. Default 12 h.
	SessionTTL time.Duration
}

// Server is the console. Lifecycle: New (no I/O) → Start → Close.
type Server struct {
	cfg  Config
	log  *slog.Logger
	adm  *admin.Admin
	auth *auth // nil: no login

	cmu   sync.Mutex
	cache map[string]cached
	hist  history

	stop    context.CancelFunc // stops the sampler
	sampled chan struct{}      // closed when the sampler returns

	mu   sync.Mutex
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

type cached struct {
	at time.Time
	v  any
}

// New builds a console for the name servers of cfg.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if len(cfg.NameServers) == 0 {
		return nil, errors.New("console: no name server")
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 3 * time.Second
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 16
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = 30 * time.Second
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var au *auth
	if len(cfg.Users) > 0 {
		for _, u := range cfg.Users {
			if u.Name == "" || u.Password == "" {
				return nil, errors.New("console: Users: a user without name or password")
			}
		}
		au = newAuth(cfg.Users, cfg.SessionTTL)
	}
	adm, err := admin.New(append([]client.Option{client.NameServers(cfg.NameServers...)}, cfg.ClientOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return &Server{cfg: cfg, log: log, adm: adm, auth: au, cache: map[string]cached{}}, nil
}

// Handler returns the console's routes, behind the login when Users are
// set.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(static, "static")
	mux.Handle("GET /", http.FileServerFS(sub))
	mux.HandleFunc("GET /api/cluster", s.api(s.cluster))
	mux.HandleFunc("GET /api/topics", s.api(s.topics))
	mux.HandleFunc("GET /api/topic", s.api(s.topic))
	mux.HandleFunc("POST /api/topic", s.api(s.createTopic))
	mux.HandleFunc("GET /api/groups", s.api(s.groups))
	mux.HandleFunc("GET /api/messages", s.api(s.messages))
	mux.HandleFunc("GET /api/trace", s.api(s.trace))
	mux.HandleFunc("POST /api/topic/delete", s.api(s.deleteTopic))
	mux.HandleFunc("POST /api/group/reset", s.api(s.resetOffset))
	mux.HandleFunc("POST /api/dlq/resend", s.api(s.resendDLQ))
	mux.HandleFunc("POST /api/topic/update", s.api(s.updateTopic))
	mux.HandleFunc("POST /api/topic/send", s.api(s.sendMessage))
	mux.HandleFunc("GET /api/producers", s.api(s.producers))
	mux.HandleFunc("GET /api/dlq", s.api(s.dlq))
	mux.HandleFunc("GET /api/dlq/export", s.exportDLQ)
	mux.HandleFunc("GET /api/history", s.api(func(_ context.Context, r *http.Request) (any, error) {
		return map[string]any{"series": s.hist.snapshot(r.URL.Query().Get("prefix"))}, nil
	}))
	mux.HandleFunc("POST /api/login", s.login)
	mux.HandleFunc("POST /api/logout", s.logout)
	mux.HandleFunc("GET /api/whoami", s.api(s.whoami))
	return s.guard(mux)
}

// Start starts the admin client and listens.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("console: already started")
	}
	if err := s.adm.Start(ctx); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		_ = s.adm.Close()
		return fmt.Errorf("console: listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("console: serve", "err", err)
		}
	}(s.srv, s.done)
	sctx, stop := context.WithCancel(context.Background())
	s.stop, s.sampled = stop, make(chan struct{})
	go func() {
		defer close(s.sampled)
		s.sampleLoop(sctx)
	}()
	return nil
}

// Addr returns the bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops serving and closes the admin client. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	srv, done, stop, sampled := s.srv, s.done, s.stop, s.sampled
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	stop()
	<-sampled
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		err = srv.Close()
	}
	<-done
	return errors.Join(err, s.adm.Close())
}

// apiError is an answer with an HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// api wraps a handler: JSON out, errors as {"error": "..."} with a status.
func (s *Server) api(h func(context.Context, *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
		v, err := h(ctx, r)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(v)
	}
}

// writeErr answers {"error": "..."} with the error's status (an apiError's,
// else 502: a broker or name server failed) and logs it. Request bodies are
// never logged (the login's holds a password).
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	var ae *apiError
	if errors.As(err, &ae) {
		status = ae.status
	}
	level := slog.LevelWarn
	if status == http.StatusUnauthorized {
		level = slog.LevelDebug // every page opened before the login
	}
	s.log.Log(r.Context(), level, "console: request failed", "path", r.URL.Path, "query", r.URL.RawQuery, "status", status, "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// cachedCall returns the cached answer of key if younger than CacheTTL, else
// computes and caches it.
func (s *Server) cachedCall(key string, fn func() (any, error)) (any, error) {
	s.cmu.Lock()
	c, ok := s.cache[key]
	s.cmu.Unlock()
	if ok && time.Since(c.at) < s.cfg.CacheTTL {
		return c.v, nil
	}
	v, err := fn()
	if err != nil {
		return nil, err
	}
	s.cmu.Lock()
	s.cache[key] = cached{at: time.Now(), v: v}
	s.cmu.Unlock()
	return v, nil
}

func (s *Server) forget(prefix string) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	for k := range s.cache {
		if strings.HasPrefix(k, prefix) {
			delete(s.cache, k)
		}
	}
}

// each runs fn for every item with at most Parallel at a time.
func each[T any](parallel int, items []T, fn func(T)) {
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(it)
		}()
	}
	wg.Wait()
}

// Broker is one broker of the cluster page.
type Broker struct {
	Cluster string            `json:"cluster"`
	Name    string            `json:"name"`
	ID      int64             `json:"id"`
	Addr    string            `json:"addr"`
	Role    string            `json:"role"`
	Version string            `json:"version"`
	PutTPS  string            `json:"putTps"`
	GetTPS  string            `json:"getTps"`
	Disk    string            `json:"disk"`
	Stored  string            `json:"stored"`
	Error   string            `json:"error,omitempty"`
	Runtime map[string]string `json:"runtime,omitempty"`
}

func (s *Server) cluster(ctx context.Context, _ *http.Request) (any, error) {
	return s.cachedCall("cluster", func() (any, error) {
		ci, err := s.adm.ClusterInfo(ctx)
		if err != nil {
			return nil, err
		}
		var brokers []*Broker
		for _, bd := range ci.BrokerAddrTable {
			for id, addr := range bd.Addrs {
				brokers = append(brokers, &Broker{Cluster: bd.Cluster, Name: bd.BrokerName, ID: id, Addr: addr})
			}
		}
		sort.Slice(brokers, func(i, j int) bool {
			a, b := brokers[i], brokers[j]
			return a.Cluster+"\x00"+a.Name < b.Cluster+"\x00"+b.Name || a.Cluster == b.Cluster && a.Name == b.Name && a.ID < b.ID
		})
		each(s.cfg.Parallel, brokers, func(b *Broker) {
			resp, err := s.adm.Client().Call(ctx, b.Addr, protocol.NewRequest(protocol.GetBrokerRuntimeInfo, nil))
			if err != nil {
				b.Error = err.Error()
				return
			}
			var kv struct {
				Table map[string]string `json:"table"`
			}
			if err := json.Unmarshal(resp.Body, &kv); err != nil {
				b.Error = err.Error()
				return
			}
			t := kv.Table
			b.Runtime = t
			b.Version, b.PutTPS, b.GetTPS = t["brokerVersionDesc"], t["putTps"], t["getTransferedTps"]
			b.Disk, b.Stored = t["commitLogDiskRatio"], t["msgPutTotalTodayNow"]
			b.Role = "SLAVE"
			if b.ID == 0 {
				b.Role = "MASTER"
			}
		})
		return map[string]any{"brokers": brokers}, nil
	})
}

// Topic is one row of the topics page.
type Topic struct {
	Name   string `json:"name"`
	System bool   `json:"system"`
}

func isSystemTopic(t string) bool {
	return strings.HasPrefix(t, "%RETRY%") || strings.HasPrefix(t, "%DLQ%") || strings.HasPrefix(t, "RMQ_SYS_") ||
		strings.HasPrefix(t, "rmq_sys_") || slices.Contains([]string{"TBW102", "SCHEDULE_TOPIC_XXXX", "OFFSET_MOVED_EVENT",
		"SELF_TEST_TOPIC", "BenchmarkTest", "TRANS_CHECK_MAX_TIME_TOPIC"}, t)
}

func (s *Server) topics(ctx context.Context, _ *http.Request) (any, error) {
	return s.cachedCall("topics", func() (any, error) {
		names, err := s.adm.Topics(ctx)
		if err != nil {
			return nil, err
		}
		sort.Strings(names)
		// Brokers also register a topic named after their cluster, their
		// broker name and <cluster>_REPLY_TOPIC (clusterTopicEnable,
		// brokerTopicEnable, request-reply): system topics too.
		own := map[string]bool{}
		if ci, err := s.adm.ClusterInfo(ctx); err == nil {
			for c := range ci.ClusterAddrTable {
				own[c], own[c+"_REPLY_TOPIC"] = true, true
			}
			for b := range ci.BrokerAddrTable {
				own[b] = true
			}
		}
		out := make([]Topic, 0, len(names))
		for _, n := range names {
			out = append(out, Topic{Name: n, System: isSystemTopic(n) || own[n]})
		}
		return map[string]any{"topics": out}, nil
	})
}

// Queue is one queue of a topic page.
type Queue struct {
	Broker string `json:"broker"`
	ID     int32  `json:"id"`
	Min    int64  `json:"min"`
	Max    int64  `json:"max"`
}

func (s *Server) topic(ctx context.Context, r *http.Request) (any, error) {
	name := r.URL.Query().Get("name")
	if name == "" {
		return nil, badRequest("name is required")
	}
	return s.cachedCall("topic/"+name, func() (any, error) {
		rt, err := s.adm.TopicRoute(ctx, name)
		if err != nil {
			return nil, err
		}
		maxes, err := s.adm.MaxOffsets(ctx, name)
		if err != nil {
			return nil, err
		}
		var queues []Queue
		var total int64
		for mq, mx := range maxes {
			mn, err := s.adm.MinOffset(ctx, mq)
			if err != nil {
				return nil, err
			}
			queues = append(queues, Queue{Broker: mq.BrokerName, ID: mq.QueueID, Min: int64(mn), Max: int64(mx)})
			total += int64(mx - mn)
		}
		sort.Slice(queues, func(i, j int) bool {
			return queues[i].Broker < queues[j].Broker || queues[i].Broker == queues[j].Broker && queues[i].ID < queues[j].ID
		})
		return map[string]any{"name": name, "route": routeView(rt.Data()), "queues": queues, "messages": total}, nil
	})
}

// createTopic creates a topic on every master of a cluster (POST
// {"name","cluster","queues"} or, instead of queues, "readQueues" and
// "writeQueues"; "perm" defaults to 6).
// Route is a topic's route as the topic page shows it, in the JSON field
// names of RocketMQ's TopicRouteData.
type Route struct {
	BrokerDatas []RouteBroker `json:"brokerDatas"`
	QueueDatas  []RouteQueue  `json:"queueDatas"`
}

// RouteBroker is a broker of a Route: its addresses by broker id.
type RouteBroker struct {
	Name    string            `json:"brokerName"`
	Cluster string            `json:"cluster"`
	Addrs   map[string]string `json:"brokerAddrs"`
}

// RouteQueue is a broker's queues and permission in a Route.
type RouteQueue struct {
	Broker      string `json:"brokerName"`
	Perm        int32  `json:"perm"`
	ReadQueues  int32  `json:"readQueueNums"`
	WriteQueues int32  `json:"writeQueueNums"`
}

func routeView(d *body.TopicRouteData) Route {
	r := Route{BrokerDatas: []RouteBroker{}, QueueDatas: []RouteQueue{}}
	for _, bd := range d.BrokerDatas {
		b := RouteBroker{Name: bd.BrokerName, Cluster: bd.Cluster, Addrs: map[string]string{}}
		for id, a := range bd.Addrs {
			b.Addrs[strconv.FormatInt(id, 10)] = a
		}
		r.BrokerDatas = append(r.BrokerDatas, b)
	}
	for _, qd := range d.QueueDatas {
		r.QueueDatas = append(r.QueueDatas, RouteQueue{Broker: qd.BrokerName, Perm: qd.Perm, ReadQueues: qd.ReadQueueNums, WriteQueues: qd.WriteQueueNums})
	}
	slices.SortFunc(r.BrokerDatas, func(a, b RouteBroker) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(r.QueueDatas, func(a, b RouteQueue) int { return strings.Compare(a.Broker, b.Broker) })
	return r
}

func (s *Server) createTopic(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		Name        string `json:"name"`
		Cluster     string `json:"cluster"`
		Queues      int32  `json:"queues"`
		ReadQueues  int32  `json:"readQueues"`
		WriteQueues int32  `json:"writeQueues"`
		Perm        int32  `json:"perm"`
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Name == "" {
		return nil, badRequest("name is required")
	}
	if req.Cluster == "" {
		req.Cluster = "DefaultCluster"
	}
	if req.Queues <= 0 {
		req.Queues = 8
	}
	if req.ReadQueues == 0 {
		req.ReadQueues = req.Queues
	}
	if req.WriteQueues == 0 {
		req.WriteQueues = req.Queues
	}
	if req.Perm == 0 {
		req.Perm = body.PermRead | body.PermWrite
	}
	if err := checkQueues(req.ReadQueues, req.WriteQueues, req.Perm); err != nil {
		return nil, err
	}
	if err := s.adm.CreateTopicInCluster(ctx, req.Cluster, admin.TopicSpec{Topic: req.Name, ReadQueues: req.ReadQueues,
		WriteQueues: req.WriteQueues, Perm: req.Perm}); err != nil {
		return nil, err
	}
	s.forget("topic")
	return map[string]any{"created": req.Name}, nil
}

// GroupLag is one consumer group's progress on one topic.
type GroupLag struct {
	Group  string     `json:"group"`
	Topic  string     `json:"topic"`
	Lag    int64      `json:"lag"`
	Queues []QueueLag `json:"queues"`
	// Clients are the group's online consumers ("clientId addr language
	// version"); Subscription is their expression for Topic ("" if none
	// subscribes to it now).
	Clients      []string `json:"clients"`
	Subscription string   `json:"subscription"`
}

// QueueLag is one queue of a GroupLag; Lag is never negative.
type QueueLag struct {
	Broker         string `json:"broker"`
	ID             int32  `json:"id"`
	BrokerOffset   int64  `json:"brokerOffset"`
	ConsumerOffset int64  `json:"consumerOffset"`
	Lag            int64  `json:"lag"`
}

func (s *Server) groups(ctx context.Context, _ *http.Request) (any, error) {
	return s.cachedCall("groups", func() (any, error) {
		ci, err := s.adm.ClusterInfo(ctx)
		if err != nil {
			return nil, err
		}
		var masters []string
		for _, bd := range ci.BrokerAddrTable {
			if a, ok := bd.Addrs[0]; ok {
				masters = append(masters, a)
			}
		}
		sort.Strings(masters)
		type job struct{ addr, group string }
		var mu sync.Mutex
		var jobs []job
		var errs []error
		each(s.cfg.Parallel, masters, func(addr string) {
			gs, err := s.adm.ConsumerGroups(ctx, addr)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for g := range gs {
				jobs = append(jobs, job{addr, g})
			}
		})
		byKey := map[string]*GroupLag{}
		each(s.cfg.Parallel, jobs, func(j job) {
			resp, err := s.adm.Client().Call(ctx, j.addr, header.NewRequest(protocol.GetConsumeStats,
				&header.GetConsumeStats{ConsumerGroup: j.group}))
			if err != nil {
				return // a group that never consumed here: no stats
			}
			cs, err := body.DecodeConsumeStats(resp.Body)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for mq, o := range cs.OffsetTable {
				k := j.group + "\x00" + mq.Topic
				gl := byKey[k]
				if gl == nil {
					gl = &GroupLag{Group: j.group, Topic: mq.Topic}
					byKey[k] = gl
				}
				lag := max(o.BrokerOffset-o.ConsumerOffset, 0)
				gl.Lag += lag
				gl.Queues = append(gl.Queues, QueueLag{Broker: mq.BrokerName, ID: mq.QueueID,
					BrokerOffset: o.BrokerOffset, ConsumerOffset: o.ConsumerOffset, Lag: lag})
			}
		})
		// The online consumers of each group, asked of one master each.
		firstAddr := map[string]string{}
		for _, j := range jobs {
			if _, ok := firstAddr[j.group]; !ok {
				firstAddr[j.group] = j.addr
			}
		}
		conns := map[string]*body.ConsumerConnection{}
		each(s.cfg.Parallel, slices.Sorted(maps.Keys(firstAddr)), func(g string) {
			resp, err := s.adm.Client().Call(ctx, firstAddr[g], header.NewRequest(protocol.GetConsumerConnectionList,
				&header.GetConsumerConnectionList{ConsumerGroup: g}))
			if err != nil {
				return // CONSUMER_NOT_ONLINE: no client
			}
			cc, err := body.DecodeConsumerConnection(resp.Body)
			if err != nil {
				return
			}
			mu.Lock()
			conns[g] = cc
			mu.Unlock()
		})
		calls := len(masters) + len(jobs) + len(firstAddr)
		out := make([]*GroupLag, 0, len(byKey))
		for _, k := range slices.Sorted(maps.Keys(byKey)) {
			gl := byKey[k]
			sort.Slice(gl.Queues, func(i, j int) bool {
				return gl.Queues[i].Broker < gl.Queues[j].Broker || gl.Queues[i].Broker == gl.Queues[j].Broker && gl.Queues[i].ID < gl.Queues[j].ID
			})
			gl.Clients = []string{}
			if cc := conns[gl.Group]; cc != nil {
				for _, c := range cc.ConnectionSet {
					gl.Clients = append(gl.Clients, c.ClientID+" "+c.ClientAddr+" "+c.Language+" "+protocol.VersionName(c.Version))
				}
				sort.Strings(gl.Clients)
				if sd, ok := cc.SubscriptionTable[gl.Topic]; ok {
					gl.Subscription = sd.SubString
				}
			}
			out = append(out, gl)
		}
		if len(out) == 0 && len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return map[string]any{"groups": out, "calls": calls}, nil
	})
}

// Message is a message as the messages page shows it.
type Message struct {
	ID             string            `json:"msgId"`
	OffsetID       string            `json:"offsetMsgId"`
	Topic          string            `json:"topic"`
	QueueID        int32             `json:"queueId"`
	QueueOffset    int64             `json:"queueOffset"`
	Tags           string            `json:"tags"`
	Keys           string            `json:"keys"`
	Body           string            `json:"body"`
	BornTime       string            `json:"bornTime"`
	StoreTime      string            `json:"storeTime"`
	StoreHost      string            `json:"storeHost"`
	ReconsumeTimes int32             `json:"reconsumeTimes"`
	Properties     map[string]string `json:"properties"`
}

func view(m *message.MessageExt) Message {
	return Message{ID: m.MsgID(), OffsetID: m.OffsetMsgID(), Topic: m.Topic, QueueID: m.QueueID,
		QueueOffset: int64(m.QueueOffset), Tags: m.Properties[message.PropertyTags], Keys: m.Properties[message.PropertyKeys],
		Body: string(m.Body), BornTime: time.UnixMilli(m.BornTimestamp).UTC().Format(time.RFC3339Nano),
		StoreTime: time.UnixMilli(m.StoreTimestamp).UTC().Format(time.RFC3339Nano), StoreHost: m.StoreHost.String(),
		ReconsumeTimes: m.ReconsumeTimes, Properties: m.Properties}
}

// messages finds messages by key in a topic (?topic=&key=, last 3 days) or by
// offset message id (?id=).
func (s *Server) messages(ctx context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	if id := q.Get("id"); id != "" {
		host, phys, err := message.ParseOffsetMsgID(id)
		if err != nil {
			return nil, badRequest("%q is not an offset message id (32 hex digits with the store host): %v", id, err)
		}
		resp, err := s.adm.Client().Call(ctx, host.String(), header.NewRequest(protocol.ViewMessageByID,
			&header.ViewMessage{Offset: int64(phys)}))
		if err != nil {
			return nil, err
		}
		m, _, err := message.DecodeMessage(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("decode message %s: %w", id, err)
		}
		return map[string]any{"messages": []Message{view(m)}}, nil
	}
	topic, key := q.Get("topic"), q.Get("key")
	if topic == "" || key == "" {
		return nil, badRequest("give id, or topic and key")
	}
	limit := 32
	if n, err := strconv.Atoi(q.Get("max")); err == nil && n > 0 && n <= 1000 {
		limit = n
	}
	end := time.Now().Add(time.Minute)
	msgs, err := s.adm.QueryByKey(ctx, topic, key, false, limit, end.Add(-72*time.Hour), end)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, view(m))
	}
	return map[string]any{"messages": out}, nil
}

// deleteTopic deletes a topic on every master of its route and on the name
// servers (POST {"name"}).
func (s *Server) deleteTopic(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16)).Decode(&req); err != nil {
		return nil, badRequest("bad request body: %v", err)
	}
	if req.Name == "" {
		return nil, badRequest("name is required")
	}
	if err := s.adm.DeleteTopic(ctx, req.Name, ""); err != nil {
		return nil, err
	}
	s.forget("topic")
	s.forget("groups")
	return map[string]any{"deleted": req.Name}, nil
}

// resetOffset moves a group's offsets on a topic to the first message stored
// at or after a time (POST {"group","topic","time"}: RFC 3339, or "now" to
// skip the backlog). With consumers online the brokers reset them as
// mqadmin resetOffsetByTime does (to the first message stored at or after the
// time); with none online the console commits the offsets itself
// (SEARCH_OFFSET_BY_TIMESTAMP, or the queue's max offset for "now", then
// UPDATE_CONSUMER_OFFSET per queue), which the group's consumers use when
// they start.
func (s *Server) resetOffset(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		Group string `json:"group"`
		Topic string `json:"topic"`
		Time  string `json:"time"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16)).Decode(&req); err != nil {
		return nil, badRequest("bad request body: %v", err)
	}
	if req.Group == "" || req.Topic == "" {
		return nil, badRequest("group and topic are required")
	}
	ts := time.Now()
	if req.Time != "now" {
		t, err := time.Parse(time.RFC3339, req.Time)
		if err != nil {
			return nil, badRequest(`time %q: want RFC 3339 ("2006-01-02T15:04:05Z") or "now"`, req.Time)
		}
		ts = t
	}
	defer s.forget("groups")
	offs, err := s.adm.ResetOffsetByTime(ctx, req.Group, req.Topic, ts, true)
	if err == nil {
		return map[string]any{"online": true, "queues": len(offs)}, nil
	}
	if !errors.Is(err, protocol.ErrConsumerNotOnline) {
		return nil, err
	}
	rt, err := s.adm.TopicRoute(ctx, req.Topic)
	if err != nil {
		return nil, err
	}
	maxes, err := s.adm.MaxOffsets(ctx, req.Topic)
	if err != nil {
		return nil, err
	}
	n := 0
	for mq, mx := range maxes {
		addr, ok := rt.MasterAddr(mq.BrokerName)
		if !ok {
			continue
		}
		off := int64(mx) // "now": past every stored message
		if req.Time != "now" {
			resp, err := s.adm.Client().Call(ctx, addr, header.NewRequest(protocol.SearchOffsetByTimestamp,
				&header.SearchOffset{Topic: req.Topic, QueueID: mq.QueueID, Timestamp: ts.UnixMilli()}))
			if err != nil {
				return nil, err
			}
			if off, err = strconv.ParseInt(resp.Ext("offset"), 10, 64); err != nil {
				return nil, fmt.Errorf("search offset of %s:%d: %q: %w", mq.BrokerName, mq.QueueID, resp.Ext("offset"), err)
			}
		}
		if _, err := s.adm.Client().Call(ctx, addr, header.NewRequest(protocol.UpdateConsumerOffset,
			&header.UpdateConsumerOffset{ConsumerGroup: req.Group, Topic: req.Topic, QueueID: mq.QueueID, CommitOffset: off})); err != nil {
			return nil, err
		}
		n++
	}
	return map[string]any{"online": false, "queues": n}, nil
}

// resendDLQ sends a dead-letter message back to its consumer group (POST
// {"id": offset message id of the message in %DLQ%<group>}): a copy goes to
// the group's retry topic %RETRY%<group> with its reconsume count reset, as
// a consumer's own retries do, so the group's consumers (which subscribe to
// their retry topic) consume it again under its original topic
// (RETRY_TOPIC). It keeps the message id (UNIQ_KEY) and keys.
func (s *Server) resendDLQ(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16)).Decode(&req); err != nil {
		return nil, badRequest("bad request body: %v", err)
	}
	host, phys, err := message.ParseOffsetMsgID(req.ID)
	if err != nil {
		return nil, badRequest("%q is not an offset message id: %v", req.ID, err)
	}
	resp, err := s.adm.Client().Call(ctx, host.String(), header.NewRequest(protocol.ViewMessageByID, &header.ViewMessage{Offset: int64(phys)}))
	if err != nil {
		return nil, err
	}
	m, _, err := message.DecodeMessage(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("decode message %s: %w", req.ID, err)
	}
	group, ok := strings.CutPrefix(m.Topic, "%DLQ%")
	if !ok {
		return nil, badRequest("message %s is in %s, not a dead-letter topic (%%DLQ%%<group>)", req.ID, m.Topic)
	}
	retry := "%RETRY%" + group
	rt, err := s.adm.TopicRoute(ctx, retry)
	if err != nil {
		return nil, fmt.Errorf("group %s has no retry topic (%w): start its consumers once", group, err)
	}
	qs := rt.PublishQueues()
	if len(qs) == 0 {
		return nil, fmt.Errorf("retry topic %s has no writable queue", retry)
	}
	mq := qs[int(phys)%len(qs)]
	addr, ok := rt.MasterAddr(mq.BrokerName)
	if !ok {
		return nil, fmt.Errorf("no master for %s", mq.BrokerName)
	}
	props := maps.Clone(m.Properties)
	if props == nil {
		props = map[string]string{}
	}
	if props[message.PropertyRetryTopic] == "" {
		props[message.PropertyRetryTopic] = m.Topic
	}
	for _, k := range []string{"DELAY", "MAX_OFFSET", "MIN_OFFSET", "REAL_TOPIC", "REAL_QID", message.PropertyCluster} {
		delete(props, k)
	}
	ps, err := message.AppendProperties(nil, props)
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", req.ID, err)
	}
	send := header.NewRequest(protocol.SendMessage, &header.SendMessage{ProducerGroup: "CONSOLE_RESEND", Topic: retry,
		DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: mq.QueueID, SysFlag: int32(m.SysFlag &^ message.SysFlagMultiTags),
		BornTimestamp: time.Now().UnixMilli(), Flag: m.Flag, Properties: string(ps)})
	send.Body = m.Body
	out, err := s.adm.Client().Call(ctx, addr, send)
	if err != nil {
		return nil, fmt.Errorf("resend %s to %s: %w", req.ID, retry, err)
	}
	s.forget("groups")
	return map[string]any{"group": group, "topic": retry, "msgId": out.Ext("msgId")}, nil
}
