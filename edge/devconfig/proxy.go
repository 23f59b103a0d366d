package devconfig

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// HTTPProxy is the networkProxy as an http.Transport Proxy function: nil
// when no proxy is set. Hosts in noProxyAddresses (a comma-separated list;
// a scheme or port on an entry is ignored, ".example.com" or
// "example.com" also covers its subdomains) are reached directly. The
// username and password go to the proxy as basic authentication.
func (p NetworkProxy) HTTPProxy() (func(*http.Request) (*url.URL, error), error) {
	if p.Proxy.URL == "" {
		return nil, nil
	}
	u, err := url.Parse(p.Proxy.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%s.networkProxy.proxy.url %q is not a proxy URL: write http://host:port or https://host:port", NucleusPath, p.Proxy.URL)
	}
	if p.Proxy.Username != "" {
		u.User = url.UserPassword(p.Proxy.Username, p.Proxy.Password)
	}
	var direct []string
	for _, a := range strings.Split(p.NoProxyAddresses, ",") {
		a = strings.TrimSpace(a)
		if _, rest, ok := strings.Cut(a, "://"); ok {
			a = rest
		}
		if h, _, err := net.SplitHostPort(a); err == nil {
			a = h
		}
		if a = strings.TrimPrefix(strings.ToLower(a), "."); a != "" {
			direct = append(direct, a)
		}
	}
	return func(r *http.Request) (*url.URL, error) {
		host := strings.ToLower(r.URL.Hostname())
		for _, d := range direct {
			if host == d || strings.HasSuffix(host, "."+d) {
				return nil, nil
			}
		}
		return u, nil
	}, nil
}
