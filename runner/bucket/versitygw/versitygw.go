// Package versitygw starts a real S3-compatible server, versitygw, on
// loopback for tests: one that checks request signatures, pre-signed URLs
// and their expiry as S3 does, where the in-process fake used by unit tests
// accepts any signature.
//
// The server binary is built from a pinned version (the module in
// .ci/tools/versitygw, whose go.sum fixes every dependency, so the main module
// does not carry the server's dependencies). It is found, in order:
//
//   - at $PIKABATCH_VERSITYGW, which CI sets after building it once;
//   - in the user's cache folder, where an earlier test run built it;
//   - else it is built there now with the go command, through the module
//     proxy (a minute or two, once per machine).
//
// A test that cannot have the server fails saying why: it never skips, so
// a machine that cannot build it cannot pass for one that tested.
//
// Start and the helpers that take a TB are for tests; Find, Launch,
// MakeBucket, Env and Close are the same without testing, for a benchmark
// the pikabatch binary runs (the package does not import testing), which
// hands Env to the pikabatch process it measures.
package versitygw

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Version is the versitygw release the tests run against.
const Version = "v1.8.0"

// EnvBinary names the variable that points at a built versitygw binary.
const EnvBinary = "PIKABATCH_VERSITYGW"

// Region is the region the server answers for and clients sign with.
const Region = "us-east-1"

// readyTimeout bounds the wait for a started server to answer.
const readyTimeout = 30 * time.Second

// Server is a running versitygw with one account, serving the folder Dir.
type Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:PORT.
	Endpoint string
	// Access and Secret are the root account's credentials.
	Access, Secret string
	// Dir is the folder whose sub-folders are the buckets.
	Dir string

	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// Launch starts bin serving the folder dir on a free loopback port, and
// returns once it answers S3 requests (or fails saying why, with the
// server's output). Close stops it.
func Launch(ctx context.Context, bin, dir string) (*Server, error) {
	var lastErr error
	// The free port is found by listening and closing: another process may
	// take it in between, so a server that fails to start is tried again on
	// a new port, a few times.
	for range 3 {
		s, err := launch(ctx, bin, dir)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("versitygw: %w", lastErr)
}

func launch(ctx context.Context, bin, dir string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint: "http://" + port,
		Access:   "pikabatch-test",
		Secret:   "test-secret-" + rand.Text(),
		Dir:      dir,
		out:      &syncBuffer{},
		done:     make(chan struct{}),
	}
	// Keep-alive as S3 itself does (versitygw closes each connection
	// after one request unless told), and no line logged per request: a
	// client measured against it pays for neither.
	s.cmd = exec.Command(bin, "--access", s.Access, "--secret", s.Secret,
		"--port", port, "--region", Region, "--keep-alive", "--quiet", "posix", s.Dir)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close ends the server and waits for it to exit. It is safe to call twice.
func (s *Server) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// waitReady polls the server with a signed request until it answers, the
// process exits, or readyTimeout passes.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := s.Client()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := client.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("exited before answering: %s", s.out.String())
		case <-ctx.Done():
			return fmt.Errorf("no answer within %v: %w; output: %s", readyTimeout, err, s.out.String())
		case <-tick.C:
		}
	}
}

// Client returns an S3 client signed with the root account, path-style.
// It keeps no idle connection, so that tests checking for leaked
// goroutines find none of its own.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.Access, s.Secret, ""),
		HTTPClient: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	})
}

// MakeBucket makes an empty bucket.
func (s *Server) MakeBucket(ctx context.Context, name string) error {
	_, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		return fmt.Errorf("versitygw: create bucket %s: %w", name, err)
	}
	return nil
}

// Env is the environment that points the AWS SDK's standard chain at the
// server, as KEY=VALUE: its endpoint in AWS_ENDPOINT_URL_S3, its
// credentials and region, and no shared config file, profile or instance
// metadata to fall back on. A child process given it reaches the server
// with plain s3://bucket/key URLs.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_ACCESS_KEY_ID=" + s.Access,
		"AWS_SECRET_ACCESS_KEY=" + s.Secret,
		"AWS_REGION=" + Region,
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// presignGet returns a GET URL for bucket/key valid for ttl, signed as if
// the clock read shift later.
func (s *Server) presignGet(ctx context.Context, bucket, key string, ttl, shift time.Duration) (string, error) {
	p := s3.NewPresignClient(s.Client(), s3.WithPresignExpires(ttl), func(o *s3.PresignOptions) {
		o.Presigner = shiftedSigner{v4.NewSigner(), shift}
	})
	req, err := p.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", fmt.Errorf("versitygw: presign %s/%s: %w", bucket, key, err)
	}
	return req.URL, nil
}

// shiftedSigner signs as if the clock read shift later.
type shiftedSigner struct {
	s     *v4.Signer
	shift time.Duration
}

func (s shiftedSigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string,
	signingTime time.Time, optFns ...func(*v4.SignerOptions),
) (string, http.Header, error) {
	return s.s.PresignHTTP(ctx, creds, r, payloadHash, service, region, signingTime.Add(s.shift), optFns...)
}

// Find returns the path of a versitygw binary of Version: $PIKABATCH_VERSITYGW,
// or one built earlier into the user's cache folder, or one built there
// now with the go command (from the tools module above the working
// folder).
func Find() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("versitygw: $%s: %w", EnvBinary, err)
		}
		return p, nil
	}
	p, err := cachedBuild()
	if err != nil {
		return "", fmt.Errorf("versitygw: %w (build it with `bash .ci/versitygw` and set $%s to its path)", err, EnvBinary)
	}
	return p, nil
}

// cachedBuild returns the cached binary, building it first if it is not
// there. Concurrent test processes may build at once: each writes its own
// file and renames it into place, so a reader never sees half a binary.
func cachedBuild() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for the build: %w", err)
	}
	dir := filepath.Join(cache, "pikabatch", "versitygw-"+Version)
	bin := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	tools, err := toolsModule()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cache folder: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "versitygw-*.tmp")
	if err != nil {
		return "", fmt.Errorf("cache folder: %w", err)
	}
	_ = tmp.Close()
	defer os.Remove(tmp.Name())
	goCmd, err := goCommand()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(goCmd, "build", "-o", tmp.Name(), "github.com/versity/versitygw/cmd/versitygw")
	cmd.Dir = tools
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build versitygw %s in %s: %w\n%s", Version, tools, err, out)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", fmt.Errorf("cache the build: %w", err)
	}
	return bin, nil
}

// toolsModule finds .ci/tools/versitygw from the working folder up: a test
// runs in its package's folder, somewhere below the repository's root.
func toolsModule() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, ".ci", "tools", "versitygw")
		if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New(".ci/tools/versitygw/go.mod not found above the working folder")
		}
		dir = parent
	}
}

// goCommand is the go command that runs the tests, or the one on PATH.
func goCommand() (string, error) {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go command to build versitygw with: %w", err)
	}
	return p, nil
}

// freePort returns a loopback address no one listens on right now.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr, nil
}

// syncBuffer collects the server's output, written from the process's
// copying goroutines and read when a start fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
