package config

import (
	"bytes"
	"encoding"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds the configuration file.
const maxFileSize = 1 << 20

// envPrefix starts every environment variable the server reads.
const envPrefix = "CAMVAULT_"

// Sources are where Load reads configuration from, in increasing priority.
type Sources struct {
	File  string   // YAML file; empty for none
	Env   []string // KEY=VALUE pairs, as from os.Environ
	Flags *Flags   // values given on the command line; nil for none
}

// field is one leaf setting of Config.
type field struct {
	key  string // dotted YAML path: "tls.cert"
	help string
	path []int // reflect field index path
	kind reflect.Kind
}

func (f field) env() string  { return envPrefix + strings.ToUpper(strings.ReplaceAll(f.key, ".", "_")) }
func (f field) flag() string { return strings.NewReplacer(".", "-", "_", "-").Replace(f.key) }

// fields lists every leaf setting in declaration order.
func fields() []field {
	var out []field
	var walk func(t reflect.Type, prefix string, path []int)
	walk = func(t reflect.Type, prefix string, path []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			key := prefix + strings.Split(sf.Tag.Get("yaml"), ",")[0]
			p := append(append([]int(nil), path...), i)
			if sf.Type.Kind() == reflect.Struct {
				walk(sf.Type, key+".", p)
				continue
			}
			out = append(out, field{key: key, help: sf.Tag.Get("help"), path: p, kind: sf.Type.Kind()})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// set parses s into the field of c.
func (f field) set(c *Config, s string) error {
	v := reflect.ValueOf(c).Elem().FieldByIndex(f.path)
	if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := tu.UnmarshalText([]byte(s)); err != nil {
			return fmt.Errorf("%s: %w", f.key, err)
		}
		return nil
	}
	switch f.kind {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%s: %q is not true or false", f.key, s)
		}
		v.SetBool(b)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("%s: %q is not a whole number", f.key, s)
		}
		v.SetInt(int64(n))
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || x < 0 || x != x {
			return fmt.Errorf("%s: %q is not a number", f.key, s)
		}
		v.SetFloat(x)
	default:
		return fmt.Errorf("%s: unsupported kind %s", f.key, f.kind)
	}
	return nil
}

// Flags collects configuration given as command-line flags.
type Flags struct {
	set map[string]string // guarded by nothing: flag parsing is single-threaded
}

// RegisterFlags adds a flag for every setting to fs (--data-dir,
// --tls-self-signed, --auth-open-signup, ...).
func RegisterFlags(fs *flag.FlagSet) *Flags {
	fl := &Flags{set: map[string]string{}}
	for _, f := range fields() {
		fs.Var(&flagValue{fl: fl, key: f.key, bool: f.kind == reflect.Bool}, f.flag(), f.help)
	}
	return fl
}

type flagValue struct {
	fl   *Flags
	key  string
	bool bool
}

func (v *flagValue) String() string   { return "" }
func (v *flagValue) IsBoolFlag() bool { return v.bool }
func (v *flagValue) Set(s string) error {
	v.fl.set[v.key] = s
	return nil
}

// Load builds the configuration from defaults and the sources, and
// validates it.
func Load(src Sources) (Config, error) {
	c := Default()
	if src.File != "" {
		if err := loadFile(&c, src.File); err != nil {
			return Config{}, err
		}
	}
	if err := loadEnv(&c, src.Env); err != nil {
		return Config{}, err
	}
	if src.Flags != nil {
		for _, f := range fields() {
			if s, ok := src.Flags.set[f.key]; ok {
				if err := f.set(&c, s); err != nil {
					return Config{}, fmt.Errorf("flag --%s: %w", f.flag(), err)
				}
			}
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

func loadFile(c *Config, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return fmt.Errorf("config file %s: larger than %d bytes", path, maxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

func loadEnv(c *Config, env []string) error {
	byName := map[string]field{}
	for _, f := range fields() {
		byName[f.env()] = f
	}
	for _, kv := range env {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || strings.HasPrefix(name, envPrefix+"TEST_") {
			continue
		}
		f, ok := byName[name]
		if !ok {
			return fmt.Errorf("environment: unknown variable %s", name)
		}
		if err := f.set(c, val); err != nil {
			return fmt.Errorf("environment %s: %w", name, err)
		}
	}
	return nil
}

// Print writes the configuration as a YAML file that Load reads back
// (--print-config output is valid --config input): every setting, nested by
// section, in declaration order, with secrets redacted — a redacted
// password reads back as the word REDACTED and is marked with a comment.
func (c Config) Print(w io.Writer) error {
	v := reflect.ValueOf(c)
	doc := &yaml.Node{Kind: yaml.MappingNode, HeadComment: "camvault configuration (secrets redacted)"}
	sections := map[string]*yaml.Node{}
	for _, f := range fields() {
		fv := v.FieldByIndex(f.path)
		val, tag, style := fmt.Sprint(fv.Interface()), "!!str", yaml.DoubleQuotedStyle
		switch f.kind {
		case reflect.Bool, reflect.Int:
			tag, style = "", 0 // plain: YAML reads it as written
		case reflect.Float64:
			tag, style = "", 0
			val = strconv.FormatFloat(fv.Float(), 'g', -1, 64)
		}
		if tm, ok := fv.Interface().(encoding.TextMarshaler); ok {
			b, err := tm.MarshalText()
			if err != nil {
				return fmt.Errorf("%s: %w", f.key, err)
			}
			val, tag, style = string(b), "!!str", yaml.DoubleQuotedStyle
		}
		value := &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Style: style, Value: val}
		if f.key == "store" {
			value.Value = redactURL(c.StoreURL())
			if value.Value != c.StoreURL() {
				value.LineComment = "password redacted: put the real one back"
			}
		}
		if f.key == "bus.nats" && redactURL(val) != val {
			value.Value = redactURL(val)
			value.LineComment = "password redacted: put the real one back"
		}
		parent := section(doc, sections, f.key)
		name := f.key[strings.LastIndexByte(f.key, '.')+1:]
		parent.Content = append(parent.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, value)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return enc.Close()
}

// section returns the mapping node that holds key's leaf, making the
// nested sections on the way ("blob.s3.bucket" lives in blob: s3:).
func section(doc *yaml.Node, sections map[string]*yaml.Node, key string) *yaml.Node {
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		return doc
	}
	path := key[:i]
	if n, ok := sections[path]; ok {
		return n
	}
	parent := section(doc, sections, path)
	n := &yaml.Node{Kind: yaml.MappingNode}
	parent.Content = append(parent.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: path[strings.LastIndexByte(path, '.')+1:]}, n)
	sections[path] = n
	return n
}

// redactURL hides a password in a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "REDACTED")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
