package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/controller"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures the web view. The zero value serves loopback host
// names only.
type Options struct {
	// Hosts are further host names (without a port) that pages answer to,
	// for a controller served under its own name. Loopback names
	// (localhost, 127.0.0.1, ::1) are always served.
	Hosts []string
	// Log receives internal errors; nil discards them.
	Log *slog.Logger
	// Output, when set, returns the end of a job's output file, at most
	// max bytes, instead of the node that ran the job's batch script
	// (tests set it). Nil asks that node's agent through the controller
	// (Controller.Output), which reads the file with the job user's
	// rights: the controller never reads its users' files itself.
	Output func(j *api.Job, max int) (string, error)
	// Done, when closed, ends the live event streams, so that a server
	// shutting down does not wait for open pages to go.
	Done <-chan struct{}
}

// Server serves the web view of one controller.
type Server struct {
	ctl  *controller.Controller
	opts Options
	key  []byte // signs the CSRF tokens; drawn per process
	mux  *http.ServeMux
	cop  *http.CrossOriginProtection
}

// Handler serves the controller's API under /v1/ and /metrics and the web
// view on every other path.
func Handler(ctl *controller.Controller, opts Options) http.Handler {
	apiH := ctl.Handler()
	mux := http.NewServeMux()
	mux.Handle("/v1/", apiH)
	mux.Handle("/metrics", apiH)
	mux.Handle("/", New(ctl, opts))
	return mux
}

// New returns the web view of ctl.
func New(ctl *controller.Controller, opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{ctl: ctl, opts: opts, key: make([]byte, 32), mux: http.NewServeMux(), cop: http.NewCrossOriginProtection()}
	_, _ = rand.Read(s.key) // crypto/rand.Read never fails
	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, nil, &api.Error{Code: api.CodeForbidden, Message: "this form was sent from another site; open the page on this server and send it again"})
	}))
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(mustSub(staticFS, "static"))))
	s.page("GET /{$}", s.myJobs)
	s.page("GET /jobs/{id}", s.jobPage)
	s.page("GET /jobs/{id}/{action}", s.confirmAction)
	s.page("GET /events/job/{id}", s.jobPageEvents)
	s.page("POST /jobs/{id}/{action}", s.doAction)
	s.page("GET /events/jobs", s.jobEvents)
	s.page("GET /cluster", s.clusterPage)
	s.page("GET /events/cluster", s.clusterEvents)
	s.page("GET /submit", s.submitPage)
	s.page("POST /submit", s.submitPost)
	s.page("GET /projects", s.projectsPage)
	s.page("GET /operators", s.operatorsPage)
	s.page("POST /operators/nodes", s.nodesPost)
	s.page("GET /whatif", s.whatIfPage)
	s.mux.HandleFunc("GET /signin", s.signinPage)
	s.mux.HandleFunc("POST /signin", s.signinPost)
	s.mux.HandleFunc("POST /signout", s.signout)
	s.page("GET /whatif/report", s.whatIfReport)
	s.page("/", func(w http.ResponseWriter, r *http.Request, v *viewer) error {
		return &api.Error{Code: api.CodeNotFound, Message: fmt.Sprintf("no page %s; start from My jobs", r.URL.Path)}
	})
	return s
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the directory is embedded: only a build mistake gets here
	}
	return sub
}

// csp allows this server's own scripts, styles and event streams and
// nothing else: no inline script or style, no frames, forms only to here.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP serves a page or an asset.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if !s.hostAllowed(r.Host) {
		// A page that answered any name could be read by a site whose
		// name was rebound to this address (DNS rebinding).
		http.Error(w, fmt.Sprintf("this web view answers to localhost and its configured names, not %q", r.Host), http.StatusMisdirectedRequest)
		return
	}
	s.cop.Handler(s.mux).ServeHTTP(w, r)
}

func (s *Server) hostAllowed(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" || slices.Contains(s.opts.Hosts, host) {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// viewer is the verified user a page is rendered for.
type viewer struct {
	User string
	// Via is what vouched for User, for the audit trail.
	Via string
	// CSRF is the token the viewer's forms carry.
	CSRF string
	// SignedIn says the viewer signed in with a token (the web's
	// cookie), and may sign out.
	SignedIn bool
}

// pageFunc renders a page for v, or returns an error for the error page.
type pageFunc func(w http.ResponseWriter, r *http.Request, v *viewer) error

func (s *Server) page(pattern string, h pageFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		id, err := s.ctl.Verify(r)
		if err != nil {
			s.fail(w, r, nil, err)
			return
		}
		v := &viewer{User: id.User, Via: "web, " + id.Via, CSRF: s.token(id.User)}
		if ck, err := r.Cookie(controller.TokenCookie); err == nil && ck.Value != "" && s.ctl.Authenticates() {
			v.SignedIn = true
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseMultipartForm(maxForm); err != nil && !errors.Is(err, http.ErrNotMultipart) {
				s.fail(w, r, v, formError(err))
				return
			}
			if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(v.CSRF)) {
				s.fail(w, r, v, &api.Error{Code: api.CodeForbidden, Message: "this form's security token is missing or stale; reload the page and send it again"})
				return
			}
		}
		if err := h(w, r, v); err != nil {
			s.fail(w, r, v, err)
		}
	})
}

// maxForm bounds a form: a batch script at its limit and the rest.
const maxForm = 5 << 20

func formError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &api.Error{Code: api.CodeTooLarge, Message: fmt.Sprintf("the form is over %d bytes; batch scripts may be at most 4 MiB", mbe.Limit)}
	}
	return &api.Error{Code: api.CodeInvalid, Message: "malformed form: " + err.Error()}
}

// token is the viewer's CSRF token: a MAC of the user name under this
// process's key, so that no other site can compute it.
func (s *Server) token(user string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("csrf\x00" + user))
	return hex.EncodeToString(m.Sum(nil))
}

// errorPage is what the error page shows.
type errorPage struct {
	Status  int
	Message string
	// SignIn offers the sign-in page (a controller that authenticates).
	SignIn bool
}

// fail renders err as an error page with its status. Errors that are not
// the controller's answers are logged and shown as internal.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	var ae *api.Error
	if !errors.As(err, &ae) {
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			ae = &api.Error{Code: api.CodeUnavailable, Message: "the request was cancelled or timed out"}
		default:
			s.opts.Log.Error("web: internal error", "path", r.URL.Path, "err", err)
			ae = &api.Error{Code: api.CodeInternal, Message: "internal error; see the controller's log"}
		}
	}
	code := api.HTTPStatus(ae.Code)
	if strings.HasPrefix(r.URL.Path, "/events/") {
		http.Error(w, ae.Message, code)
		return
	}
	s.render(w, code, "error", v, http.StatusText(code), errorPage{Status: code, Message: ae.Message,
		SignIn: code == http.StatusUnauthorized && s.ctl.Authenticates()})
}

// pages are the page templates, each the layout plus its own file, parsed
// on first use.
var pages = sync.OnceValue(func() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs()).ParseFS(templateFS, "templates/layout.html"))
	out := map[string]*template.Template{}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		out[base] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	return out
})

// view is what the layout receives.
type view struct {
	V     *viewer
	Title string
	Nav   string
	Data  any
}

// render executes a page into a buffer, so that a template failure gives a
// clean error instead of half a page, then writes it.
func (s *Server) render(w http.ResponseWriter, code int, name string, v *viewer, title string, data any) {
	var buf bytes.Buffer
	if err := pages()[name].ExecuteTemplate(&buf, "layout", view{V: v, Title: title, Nav: name, Data: data}); err != nil {
		s.opts.Log.Error("web: rendering", "page", name, "err", err)
		http.Error(w, "internal error rendering the page; see the controller's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// fragment executes one named template of a page (the rows of a table,
// for the live updates).
func fragment(name, tmpl string, data any) (string, error) {
	var buf bytes.Buffer
	err := pages()[name].ExecuteTemplate(&buf, tmpl, data)
	return buf.String(), err
}

// audited runs a state-changing action of v's with the controller's audit
// record (action as the web's route, target what it names), so that the
// web's changes and refusals are in the trail as the API's are.
func (s *Server) audited(r *http.Request, v *viewer, action, target string, do func(ctx context.Context) error) error {
	ctx, finish := s.ctl.Audited(r.Context(), controller.Identity{User: v.User, Via: v.Via}, action, target)
	err := do(ctx)
	finish(err)
	return err
}
