package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/controller"
)

// On a controller that authenticates (gefion server), a browser signs in
// with a bearer token from `gefion token`: the token is checked by the
// controller, as the API would check it, and kept in an HttpOnly,
// SameSite=Strict cookie (Secure over TLS), which the controller then
// reads on every page (Controller.Verify). Forms keep their own CSRF
// tokens, and the sign-in form, which has no user yet, is guarded by the
// cross-origin check every form passes. gefion dev needs no sign-in: the
// kernel says who is calling.

type signinData struct {
	Problem string
	Dev     bool
}

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "signin", nil, "Sign in", signinData{Dev: !s.ctl.Authenticates()})
}

func (s *Server) signinPost(w http.ResponseWriter, r *http.Request) {
	if !s.ctl.Authenticates() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	tok := strings.TrimSpace(r.PostFormValue("token"))
	probe := r.Clone(r.Context())
	probe.Header = http.Header{"Authorization": {"Bearer " + tok}}
	id, err := s.ctl.Verify(probe)
	if tok == "" || err != nil {
		msg := "give a token from 'gefion token'"
		var ae *api.Error
		if errors.As(err, &ae) {
			msg = ae.Message
		}
		s.render(w, http.StatusUnauthorized, "signin", nil, "Sign in", signinData{Problem: msg})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: controller.TokenCookie, Value: tok, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: int((12 * time.Hour).Seconds())})
	s.opts.Log.Info("web: signed in", "user", id.User, "via", id.Via)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: controller.TokenCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
