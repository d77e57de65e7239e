package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// pkiFiles names the files the API server reads, and holds what the admin kubeconfig embeds.
type pkiFiles struct {
	caCert, servingCert, servingKey            string
	serviceAccountKey, serviceAccountPublicKey string
	caPEM, adminCertPEM, adminKeyPEM           []byte
}

// writePKI makes a new CA, a serving certificate for 127.0.0.1, an admin client certificate
// in group system:masters and a service-account signing key, all new on every start, so a
// data directory never holds keys of an earlier run that tokens could still be checked against.
func writePKI(dir string) (pkiFiles, error) {
	f := pkiFiles{
		caCert:                  filepath.Join(dir, "ca.crt"),
		servingCert:             filepath.Join(dir, "serving.crt"),
		servingKey:              filepath.Join(dir, "serving.key"),
		serviceAccountKey:       filepath.Join(dir, "service-account.key"),
		serviceAccountPublicKey: filepath.Join(dir, "service-account.pub"),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, err
	}
	now := time.Now()
	template := func(cn string, org ...string) *x509.Certificate {
		// crypto/rand's reader does not fail (Go 1.24 and later).
		serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		return &x509.Certificate{
			SerialNumber: serial,
			Subject:      pkix.Name{CommonName: cn, Organization: org},
			// Backdated so that a client whose clock lags a little accepts it at once.
			NotBefore: now.Add(-time.Hour),
			NotAfter:  now.AddDate(1, 0, 0),
			KeyUsage:  x509.KeyUsageDigitalSignature,
		}
	}

	caKey, err := newKey()
	if err != nil {
		return f, err
	}
	caTemplate := template("rolesync-test-ca")
	caTemplate.IsCA = true
	caTemplate.BasicConstraintsValid = true
	caTemplate.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	ca, caPEM, err := sign(caTemplate, nil, caKey, caKey)
	if err != nil {
		return f, err
	}
	f.caPEM = caPEM

	serving := template("kube-apiserver")
	serving.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	serving.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	serving.DNSNames = []string{"localhost"}
	servingKey, err := newKey()
	if err != nil {
		return f, err
	}
	_, servingPEM, err := sign(serving, ca, servingKey, caKey)
	if err != nil {
		return f, err
	}

	admin := template("rolesync-test-admin", "system:masters")
	admin.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	adminKey, err := newKey()
	if err != nil {
		return f, err
	}
	if _, f.adminCertPEM, err = sign(admin, ca, adminKey, caKey); err != nil {
		return f, err
	}
	if f.adminKeyPEM, err = keyPEM(adminKey); err != nil {
		return f, err
	}

	saKey, err := newKey()
	if err != nil {
		return f, err
	}
	saPublic, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return f, err
	}
	servingKeyPEM, err := keyPEM(servingKey)
	if err != nil {
		return f, err
	}
	saKeyPEM, err := keyPEM(saKey)
	if err != nil {
		return f, err
	}
	for name, data := range map[string][]byte{
		f.caCert:                  caPEM,
		f.servingCert:             servingPEM,
		f.servingKey:              servingKeyPEM,
		f.serviceAccountKey:       saKeyPEM,
		f.serviceAccountPublicKey: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPublic}),
	} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			return f, err
		}
	}
	return f, nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// sign issues template for key, signed by parentKey as parent (self-signed when parent is nil).
func sign(template, parent *x509.Certificate, key *ecdsa.PrivateKey, parentKey crypto.Signer) (*x509.Certificate, []byte, error) {
	if parent == nil {
		parent = template
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeKubeconfig writes the admin kubeconfig for server to path and returns the same
// credentials as a client config.
func writeKubeconfig(path, server string, f pkiFiles) (*rest.Config, error) {
	const name = "rolesync-test"
	config := clientcmdapi.NewConfig()
	config.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: f.caPEM}
	config.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: f.adminCertPEM, ClientKeyData: f.adminKeyPEM}
	config.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	config.CurrentContext = name
	if err := clientcmd.WriteToFile(*config, path); err != nil {
		return nil, err
	}
	return clientcmd.NewDefaultClientConfig(*config, nil).ClientConfig()
}
