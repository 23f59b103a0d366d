package devconfig

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestNetworkProxyIsAnHTTPProxyFunctionWithItsDirectHosts(t *testing.T) {
	p := NetworkProxy{NoProxyAddresses: "http://192.168.0.1, www.example.com,.internal:8443",
		Proxy: Proxy{URL: "https://proxy:1100", Username: "u", Password: "p"}}
	proxy, err := p.HTTPProxy()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ target, want string }{
		{"https://prefix.credentials.iot.eu-west-1.amazonaws.com/role-aliases/a/credentials", "https://u:p@proxy:1100"},
		{"https://192.168.0.1:8443/x", ""},
		{"https://www.example.com/x", ""},
		{"https://api.www.example.com/x", ""},
		{"https://example.com/x", "https://u:p@proxy:1100"},
		{"https://db.internal/x", ""},
	} {
		u, _ := url.Parse(tt.target)
		got, err := proxy(&http.Request{URL: u})
		if err != nil {
			t.Fatal(err)
		}
		var through string // empty: direct
		if got != nil {
			through = got.String()
		}
		if through != tt.want {
			t.Errorf("%s goes through %q, want %q (empty: direct)", tt.target, through, tt.want)
		}
	}

	if f, err := (NetworkProxy{}).HTTPProxy(); f != nil || err != nil {
		t.Errorf("no proxy: %v %v, want nil, nil", f != nil, err)
	}
	if _, err := (NetworkProxy{Proxy: Proxy{URL: "proxy:1100"}}).HTTPProxy(); err == nil ||
		!strings.Contains(err.Error(), "networkProxy.proxy.url") || !strings.Contains(err.Error(), "http://host:port") {
		t.Errorf("a URL without scheme: %v", err)
	}
}
