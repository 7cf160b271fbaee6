package main

import (
	"crypto/tls"
	"errors"
	"os"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Environment variables the client commands (petrel health, petrel admin)
// read when the matching flag is not given.
const (
	envAccessKey   = "PETREL_ACCESS_KEY"
	envSecretKey   = "PETREL_SECRET_KEY"
	envTLS         = "PETREL_TLS"
	envTLSTrust    = "PETREL_TLS_TRUST_CERT"
	envTLSInsecure = "PETREL_TLS_INSECURE"
)

// clientSecurity holds the flags that make a client command sign its
// requests (ACL) and connect over TLS.
type clientSecurity struct {
	accessKey, secretKey string
	tls                  bool
	trustCert            string
	certPath, keyPath    string
	insecure             bool
	fs                   *pflag.FlagSet
}

// addClientSecurityFlags registers --access-key, --secret-key, --tls,
// --tls-trust-cert, --tls-cert, --tls-key and --tls-insecure on fs.
func addClientSecurityFlags(fs *pflag.FlagSet) *clientSecurity {
	s := &clientSecurity{fs: fs}
	fs.StringVar(&s.accessKey, "access-key", "", "ACL access key to sign requests with (default $"+envAccessKey+")")
	fs.StringVar(&s.secretKey, "secret-key", "", "ACL secret key (default $"+envSecretKey+"; prefer the variable: flags show in ps)")
	fs.BoolVar(&s.tls, "tls", false, "connect over TLS (default $"+envTLS+")")
	fs.StringVar(&s.trustCert, "tls-trust-cert", "", "PEM CA certificates to trust (default $"+envTLSTrust+", else the system roots)")
	fs.StringVar(&s.certPath, "tls-cert", "", "PEM client certificate, for servers that require one")
	fs.StringVar(&s.keyPath, "tls-key", "", "PEM key of --tls-cert")
	fs.BoolVar(&s.insecure, "tls-insecure", false, "do not verify the server's certificate (tests only; default $"+envTLSInsecure+")")
	return s
}

// credentials returns the keys from the flags, else the environment. Only
// one of the two is an error.
func (s *clientSecurity) credentials() (auth.Credentials, error) {
	c := auth.Credentials{AccessKey: s.flagOrEnv("access-key", s.accessKey, envAccessKey),
		SecretKey: s.flagOrEnv("secret-key", s.secretKey, envSecretKey)}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return c, errors.New("give both an access key and a secret key (--access-key/--secret-key or $" + envAccessKey + "/$" + envSecretKey + ")")
	}
	return c, nil
}

// tlsConfig returns the TLS configuration, nil when TLS is off.
func (s *clientSecurity) tlsConfig() (*tls.Config, error) {
	on := s.tls
	if !s.fs.Changed("tls") {
		on, _ = strconv.ParseBool(os.Getenv(envTLS))
	}
	insecure := s.insecure
	if !s.fs.Changed("tls-insecure") {
		insecure, _ = strconv.ParseBool(os.Getenv(envTLSInsecure))
	}
	trust := s.flagOrEnv("tls-trust-cert", s.trustCert, envTLSTrust)
	if !on && trust == "" && s.certPath == "" {
		return nil, nil
	}
	return remoting.ClientTLSConfig(trust, s.certPath, s.keyPath, insecure)
}

func (s *clientSecurity) flagOrEnv(flag, v, env string) string {
	if s.fs.Changed(flag) {
		return v
	}
	return os.Getenv(env)
}

// remotingConfig adds signing and TLS to cfg.
func (s *clientSecurity) remotingConfig(cfg remoting.ClientConfig) (remoting.ClientConfig, error) {
	creds, err := s.credentials()
	if err != nil {
		return cfg, err
	}
	if !creds.Empty() {
		cfg.Sign = creds.Sign
	}
	cfg.TLS, err = s.tlsConfig()
	return cfg, err
}

// clientOptions returns the SDK options for the same settings (for
// commands built on pkg/client or pkg/admin).
func (s *clientSecurity) clientOptions() ([]client.Option, error) {
	creds, err := s.credentials()
	if err != nil {
		return nil, err
	}
	var opts []client.Option
	if !creds.Empty() {
		opts = append(opts, client.WithCredentials(creds))
	}
	t, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	if t != nil {
		opts = append(opts, client.WithTLS(t))
	}
	return opts, nil
}
