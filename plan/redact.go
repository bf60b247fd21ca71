package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The plan a run stores in its restic and borg repositories (issue 12:
// the repositories alone bootstrap a new machine) is the plan file's own
// text, before ${VAR} expansion, with every secret written in it masked:
// a reference to the environment (${AWS_SECRET_ACCESS_KEY}) names a
// secret without holding it, and stays.

// MaskedValue stands for a secret the stored plan leaves out. recover
// --from-repository finds it (MaskedKeys) and stops until each is set
// again.
const MaskedValue = "MASKED-BY-ALEXANDRIA-BACKUP"

// maskedPingURL is a masked ping_url: still an http(s) URL, so the
// stored plan loads and recover can name the key, and on a host that
// never resolves (.invalid, RFC 2606).
const maskedPingURL = "https://" + MaskedValue + ".invalid/"

// pureRefRE is a value made of ${VAR} and ${VAR:-default} references
// only: no literal text ($$ is a literal $) around them.
var pureRefRE = regexp.MustCompile(`^(\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\})+$`)

// refDefaultRE finds a reference's default, which is literal text.
var refDefaultRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*):-[^}]+\}`)

// Redact returns the plan source src with every secret masked: each
// value of an `env` table (anywhere), [notify] ping_url, the ntfy and
// webhook URLs and the webhook's headers, and the password
// of any URL in any string. A secret value made only of ${VAR}
// references keeps them, with a default's literal text masked (it is
// written in the file); anything else is masked whole. The result is
// TOML again (BurntSushi's encoding: keys sorted, comments gone).
func Redact(src []byte) ([]byte, error) {
	raw := map[string]any{}
	md, err := toml.Decode(string(src), &raw)
	if err != nil {
		return nil, err
	}
	redacted := redactValue(nil, raw, false).(map[string]any)
	// The encoder sorts a map's keys, but the targets' order is the
	// plan's order (recover's choice, parallel = 1): they follow the
	// rest, one at a time, in the file's order.
	targets, ordered := redacted["targets"].(map[string]any)
	var order []string
	for _, k := range md.Keys() {
		if len(k) == 2 && k[0] == "targets" && !slices.Contains(order, k[1]) {
			order = append(order, k[1])
		}
	}
	for name, v := range targets {
		_, table := v.(map[string]any)
		ordered = ordered && table && slices.Contains(order, name)
	}
	if ordered {
		delete(redacted, "targets")
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(redacted); err != nil {
		return nil, err
	}
	for _, name := range order {
		if !ordered {
			break
		}
		var one bytes.Buffer
		if err := toml.NewEncoder(&one).Encode(map[string]any{"targets": map[string]any{name: targets[name]}}); err != nil {
			return nil, err
		}
		// Each starts with the implicit [targets]; defined twice it would
		// be an error.
		buf.WriteString("\n")
		buf.Write(bytes.TrimPrefix(one.Bytes(), []byte("[targets]\n")))
	}
	return buf.Bytes(), nil
}

// redactValue masks v, found at path; secret: v is, or is inside, a
// secret value.
func redactValue(path []string, v any, secret bool) any {
	switch x := v.(type) {
	case string:
		if isPingURL(path) {
			if pureRefRE.MatchString(x) {
				return maskDefaults(x)
			}
			return maskedPingURL
		}
		if secret {
			if !pureRefRE.MatchString(x) {
				return MaskedValue
			}
			x = maskDefaults(x)
		}
		return proc.ReplaceURLPasswords(x, MaskedValue)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = redactValue(appendPath(path, k), e, secret || isTargetEnv(path, k) || isWebhookHeaders(appendPath(path, k)))
		}
		return out
	case []map[string]any: // an array of tables
		out := make([]map[string]any, len(x))
		for i, e := range x {
			out[i] = redactValue(appendPath(path, strconv.Itoa(i)), e, secret).(map[string]any)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactValue(appendPath(path, strconv.Itoa(i)), e, secret)
		}
		return out
	}
	if secret {
		return MaskedValue // a number or a date in `env`: the loader refuses it, but never keep it
	}
	return v
}

// isTargetEnv: key k of the table at path is an `env` table, whose values
// are the secrets a plan holds (a target's, or one anywhere a later
// version adds); a target or a plan that happens to be named "env" is
// not: there the key is a name.
func isTargetEnv(path []string, k string) bool {
	isName := len(path) == 1 && (path[0] == "targets" || path[0] == "plans")
	return k == "env" && !isName
}

// isPingURL reports a URL whose path is its secret: [notify] ping_url,
// and the ntfy topic's and the webhook's url.
func isPingURL(path []string) bool {
	return slices.Equal(path, []string{"notify", "ping_url"}) ||
		slices.Equal(path, []string{"notify", "ntfy", "url"}) || slices.Equal(path, []string{"notify", "webhook", "url"})
}

// isWebhookHeaders reports the webhook's headers, whose values are
// secrets (an API key goes there).
func isWebhookHeaders(path []string) bool {
	return slices.Equal(path, []string{"notify", "webhook", "headers"})
}

func maskDefaults(s string) string {
	return refDefaultRE.ReplaceAllString(s, "$${${1}:-"+MaskedValue+"}")
}

func appendPath(path []string, k string) []string {
	return append(append([]string{}, path...), k)
}

// StoredPlan is the redacted plan a run of point stores in its
// repositories: a header saying which point stored it and that masked
// values must be set again, then Redact of the plan file's text. Its
// Sum is the SHA-256 of the redacted plan without the header, which
// names the point: the plan is stored again only when that changes.
func (p *Plan) StoredPlan(point string) (*drivers.PlanCopy, error) {
	if p.src == nil {
		return nil, nil // a plan not loaded from a file (tests): nothing to store
	}
	body, err := Redact(p.src)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	header := fmt.Sprintf("# alexandria-backup plan, stored by recovery point %s from %s.\n"+
		"# Secret values are masked as %s: set each one again before using this plan\n"+
		"# (`alexandria-backup recover` names them). Comments of the original are not kept.\n\n",
		point, p.Path, MaskedValue)
	return &drivers.PlanCopy{Point: point, Text: append([]byte(header), body...), Sum: hex.EncodeToString(sum[:])}, nil
}

// MaskedKeys lists the keys (dotted, as in Problem) of plan source src
// whose value still holds a masked secret once ${VAR} references are
// expanded with lookup: a reference to a variable that is set replaces
// a masked default.
func MaskedKeys(src []byte, lookup func(string) (string, bool)) ([]string, error) {
	raw := map[string]any{}
	if _, err := toml.Decode(string(src), &raw); err != nil {
		return nil, err
	}
	var keys []string
	var walk func(path []string, v any)
	walk = func(path []string, v any) {
		switch x := v.(type) {
		case string:
			if s, _ := expandVars(x, lookup); strings.Contains(s, MaskedValue) {
				keys = append(keys, keyString(path))
			}
		case map[string]any:
			for k, e := range x {
				walk(appendPath(path, k), e)
			}
		case []map[string]any:
			for i, e := range x {
				walk(appendPath(path, strconv.Itoa(i)), e)
			}
		case []any:
			for i, e := range x {
				walk(appendPath(path, strconv.Itoa(i)), e)
			}
		}
	}
	walk(nil, raw)
	sort.Strings(keys)
	return keys, nil
}

// DefaultPath is the plan file of a root install: where recover
// --from-repository writes the plan it fetched when neither --config nor
// ALEXANDRIA_BACKUP_CONFIG names another.
const DefaultPath = "/etc/alexandria-backup/alexandria-backup.toml"

// WriteNew writes a fetched plan to path (mode 0600, its directory
// created 0700 when missing), never over an existing file.
func WriteNew(path string, text []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(text); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
