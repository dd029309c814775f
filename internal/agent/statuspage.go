package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"rsc.io/qr"
)

// serveStatus serves the status page on the loopback address in the
// config. The page shows the claim code: it is for whoever has the device
// in hand, so it never listens beyond loopback.
func (a *Agent) serveStatus(ctx context.Context, wg *sync.WaitGroup) (stop func(), err error) {
	host, _, err := net.SplitHostPort(a.cfg.StatusListen)
	if err != nil {
		return nil, fmt.Errorf("agent: --status-listen %q is not host:port", a.cfg.StatusListen)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("agent: the status page shows the claim code, so it listens on loopback only, not %q", a.cfg.StatusListen)
	}
	l, err := net.Listen("tcp", a.cfg.StatusListen)
	if err != nil {
		return nil, fmt.Errorf("agent: status page: %w", err)
	}
	srv := &http.Server{Handler: a.statusHandler(), ReadHeaderTimeout: 5 * time.Second}
	a.log.Info("status page", "url", "http://"+l.Addr().String()+"/")
	a.statusAddr.Store(l.Addr().String())
	wg.Go(func() { srv.Serve(l) })
	return func() { srv.Close() }, nil
}

// statusHandler serves the status page and status.json to requests named
// for a loopback host only.
func (a *Agent) statusHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.statusPage)
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(a.Status())
	})
	return loopbackOnly(securePage(mux))
}

// loopbackOnly refuses requests whose Host is not a loopback name or
// address. Listening on loopback is not enough: a web page the owner
// visits can rebind its own DNS name to 127.0.0.1 and read the page,
// claim code and all, as same-origin; its requests still carry that name.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusMisdirectedRequest)
			fmt.Fprintln(w, "misdirected request: open this page as http://localhost or http://127.0.0.1")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names loopback: localhost,
// an address in 127.0.0.0/8, or [::1], with or without a port.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1] // [::1] without a port
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return false
	}
	return ip.IsLoopback()
}

// StatusAddr returns the status page's address once it listens.
func (a *Agent) StatusAddr() string {
	if v, ok := a.statusAddr.Load().(string); ok {
		return v
	}
	return ""
}

func securePage(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

var statusTmpl = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="5"><title>camvault agent</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}code.claim{font-size:2rem;letter-spacing:.1em}dt{color:#666}svg{width:16rem;height:16rem}</style>
</head><body>
<h1>camvault agent</h1>
{{if .S.ClaimCode}}
<p>Claim this camera in camvault with the code</p>
<p><code class="claim">{{.S.ClaimCode}}</code></p>
<p>valid until {{.S.ClaimExpiresAt.Format "2006-01-02 15:04 MST"}}, or scan:</p>
{{.QR}}
{{end}}
<dl>
<dt>State</dt><dd>{{.S.State}}</dd>
{{with .S.Name}}<dt>Name</dt><dd>{{.}}</dd>{{end}}
{{with .S.CameraID}}<dt>Camera</dt><dd><code>{{.}}</code>{{if $.S.Generation}} (generation {{$.S.Generation}}){{end}}</dd>{{end}}
<dt>Server</dt><dd>{{.S.Server}}</dd>
<dt>Source</dt><dd>{{.S.Source}} — {{.S.SourceHealth}}</dd>
<dt>Connections</dt><dd>{{.S.Connections}}</dd>
{{with .S.LastError}}<dt>Last error</dt><dd>{{.}}</dd>{{end}}
</dl>
</body></html>`))

func (a *Agent) statusPage(w http.ResponseWriter, r *http.Request) {
	s := a.Status()
	var svg template.HTML
	if s.ClaimCode != "" {
		svg = template.HTML(qrSVG(a.claimURL(s.ClaimCode)))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	statusTmpl.Execute(w, struct {
		S  Status
		QR template.HTML
	}{s, svg})
}

// qrSVG draws text as a QR code in SVG (generated here from bits, so the
// markup holds no outside input).
func qrSVG(text string) string {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return ""
	}
	const quiet = 4
	n := c.Size + 2*quiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n, n, n)
	for y := range c.Size {
		for x := range c.Size {
			if c.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}

// terminalQR draws text as a QR code with Unicode half blocks, two rows
// per line, dark modules on a light background.
func terminalQR(text string) string {
	c, err := qr.Encode(text, qr.L)
	if err != nil {
		return ""
	}
	const quiet = 2
	black := func(x, y int) bool {
		x, y = x-quiet, y-quiet
		return x >= 0 && y >= 0 && x < c.Size && y < c.Size && c.Black(x, y)
	}
	n := c.Size + 2*quiet
	var b strings.Builder
	for y := 0; y < n; y += 2 {
		b.WriteString("    ")
		for x := range n {
			top, bottom := black(x, y), black(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune(' ')
			case top:
				b.WriteRune('▄')
			case bottom:
				b.WriteRune('▀')
			default:
				b.WriteRune('█')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
