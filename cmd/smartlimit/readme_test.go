package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestREADMESnippets compiles every ```go block of every README.md in the
// repository, so that the docs cannot drift from the code: the root
// README's HTTP snippet once called httplimit.ClientIP as if it returned one
// value ("Hold at the edges", item 14).
//
// Each block becomes one package of a temporary tree inside this module,
// and one "go build" of the workspace compiles them all. A block is
// wrapped by this rule:
//
//   - A block whose first code line is a package clause is a file, as is.
//   - A block that parses as top-level declarations (func, type, var,
//     const) is a file of those declarations.
//   - Any other block is a function body: statements in func _() { … }.
//     Elisions ("{ ... }") do not compile: write real code, such as
//     log.Fatal(err). Variables the block declares at its top level count
//     as used, since a snippet shows what a call gives, not what a program
//     then does with it.
//
// In the last two cases the imports are added from snippetImports by the
// package names the block uses (none when it has an import of its own),
// and the names it uses without declaring them are taken from
// snippetGivens (ctx, limiter, mux, …), declared as package-level
// variables of the types listed there. A name in neither
// table is an error, reported at the README's line: a //line directive
// maps every generated file back to its block.
//
// A block that is not meant to compile (output, pseudo-code) must not be
// tagged go: use text, or no tag.
func TestREADMESnippets(t *testing.T) {
	root := workspaceRoot(t)
	blocks := readmeBlocks(t, root)
	if len(blocks) < 5 {
		// The READMEs hold more than that; fewer means the extraction broke
		// and the test would pass without compiling anything.
		t.Fatalf("found %d go blocks in the READMEs, want at least 5", len(blocks))
	}
	tmp, err := os.MkdirTemp(".", ".readme-snippets-") // a dot: ./... never sees it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })

	var pkgs []string
	for i, b := range blocks {
		src, err := b.file()
		if err != nil {
			t.Error(err)
			continue
		}
		dir := filepath.Join(tmp, fmt.Sprintf("s%02d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "snippet.go"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, "./"+filepath.ToSlash(dir))
	}
	if len(pkgs) == 0 {
		return
	}
	// One build for every block: seconds, where a build per block would
	// take a minute.
	cmd := exec.Command("go", append([]string{"build"}, pkgs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README snippets do not compile (%v):\n%s", err, out)
	}
	t.Logf("compiled %d go blocks of the READMEs", len(blocks))
}

// snippetImports are the packages a README snippet may use without
// importing them, by the name it uses.
var snippetImports = map[string]string{
	"context":        "context",
	"errors":         "errors",
	"fmt":            "fmt",
	"http":           "net/http",
	"log":            "log",
	"netip":          "net/netip",
	"os":             "os",
	"slog":           "log/slog",
	"time":           "time",
	"smartlimit":     "github.com/smartlimit/smartlimit",
	"failover":       "github.com/smartlimit/smartlimit/failover",
	"grpclimit":      "github.com/smartlimit/smartlimit/grpclimit",
	"httplimit":      "github.com/smartlimit/smartlimit/httplimit",
	"decision":       "github.com/smartlimit/smartlimit/decision",
	"memfallback":    "github.com/smartlimit/smartlimit/memfallback",
	"mongostore":     "github.com/smartlimit/smartlimit/mongostore",
	"smartlimittest": "github.com/smartlimit/smartlimit/smartlimittest",
	"miniredis":      "github.com/alicebob/miniredis/v2",
	"rueidis":        "github.com/redis/rueidis",
	"mongo":          "go.mongodb.org/mongo-driver/v2/mongo",
	"options":        "go.mongodb.org/mongo-driver/v2/mongo/options",
	"grpc":           "google.golang.org/grpc",
}

// snippetGivens are the names a README snippet may use without declaring
// them, the things its prose takes as given, with their types.
var snippetGivens = map[string]string{
	"ctx":          "context.Context",
	"limiter":      "*smartlimit.Client", // any limiter; the Redis one implements every interface
	"redisClient":  "*smartlimit.Client",
	"apiLimit":     "smartlimit.Limit",
	"addr":         "string",
	"uri":          "string",
	"mux":          "*http.ServeMux",
	"loginHandler": "http.Handler",
	"loginLimit":   "*httplimit.Middleware", // a second middleware, with a tighter limit
	"proxies":      "[]netip.Prefix",        // the reverse proxies' networks
	"keys":         "interface{ Issued(context.Context, string) bool }",
	"keyIssued":    "func(context.Context, string) bool",
}

// snippet is one ```go block: its source and where it starts.
type snippet struct {
	path string // the README, relative to the repository's root
	line int    // the line of the block's first line of code
	src  string
}

// workspaceRoot returns the directory of the go.work above this module.
func workspaceRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil {
		t.Fatalf("go env GOWORK: %v", err)
	}
	work := strings.TrimSpace(string(out))
	if work == "" || work == "off" {
		// Outside the workspace the other modules' packages (grpclimit's
		// snippet imports grpc) do not resolve.
		t.Fatal("the README snippets compile only in the repository's go.work workspace; GOWORK is off")
	}
	return filepath.Dir(work)
}

// readmeBlocks returns the ```go blocks of every README.md under root, in
// path order.
func readmeBlocks(t *testing.T, root string) []snippet {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "README.md" {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	var blocks []snippet
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			t.Fatal(err)
		}
		bs, err := goBlocks(filepath.ToSlash(rel), data)
		if err != nil {
			t.Error(err)
		}
		blocks = append(blocks, bs...)
	}
	return blocks
}

// goBlocks returns the fenced blocks of a Markdown file whose info string
// is "go". The fence's indentation (a block inside a list) is removed from
// the block's lines.
func goBlocks(path string, md []byte) ([]snippet, error) {
	var (
		blocks []snippet
		in     *snippet
		indent string
		buf    strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(md))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case in == nil && strings.HasPrefix(trimmed, "```"):
			info := strings.Fields(strings.TrimPrefix(trimmed, "```"))
			if len(info) > 0 && info[0] == "go" {
				in = &snippet{path: path, line: n + 1}
				indent = line[:len(line)-len(strings.TrimLeft(line, " \t"))]
				buf.Reset()
			} else {
				in = &snippet{} // another language: skip to its closing fence
			}
		case in != nil && trimmed == "```":
			if in.path != "" {
				in.src = buf.String()
				blocks = append(blocks, *in)
			}
			in = nil
		case in != nil && in.path != "":
			buf.WriteString(strings.TrimPrefix(line, indent))
			buf.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if in != nil {
		return blocks, fmt.Errorf("%s: a code block is not closed", path)
	}
	return blocks, nil
}

// file returns the Go file that the block becomes, by the rule of
// TestREADMESnippets.
func (s snippet) file() ([]byte, error) {
	lineDir := fmt.Sprintf("//line %s:%d\n", s.path, s.line)
	fset := token.NewFileSet()
	if f, err := parser.ParseFile(fset, "", s.src, parser.PackageClauseOnly); err == nil && f.Name != nil {
		return []byte(lineDir + s.src), nil // a whole file
	}

	const declHead = "package snippet\n"
	if f, err := parser.ParseFile(fset, "", declHead+s.src, 0); err == nil {
		return assemble(f, lineDir+s.src), nil
	}

	const bodyHead = "package snippet\nfunc _() {\n"
	f, err := parser.ParseFile(fset, "", bodyHead+s.src+"}\n", 0)
	if err != nil {
		// Report the error at its line in the README: the wrapper adds
		// two lines above the block.
		var list scanner.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			return nil, fmt.Errorf("%s:%d: not a file, declarations or statements: %s",
				s.path, s.line+list[0].Pos.Line-3, list[0].Msg)
		}
		return nil, fmt.Errorf("%s:%d: not a file, declarations or statements: %w", s.path, s.line, err)
	}
	// Mark the block's top-level variables used.
	var used []string
	body := f.Decls[0].(*ast.FuncDecl).Body
	for _, st := range body.List {
		switch st := st.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, e := range st.Lhs {
					if id, ok := e.(*ast.Ident); ok && id.Name != "_" {
						used = append(used, id.Name)
					}
				}
			}
		case *ast.DeclStmt:
			if gd, ok := st.Decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				for _, sp := range gd.Specs {
					for _, id := range sp.(*ast.ValueSpec).Names {
						if id.Name != "_" {
							used = append(used, id.Name)
						}
					}
				}
			}
		}
	}
	slices.Sort(used)
	used = slices.Compact(used)
	var b strings.Builder
	b.WriteString("func _() {\n")
	b.WriteString(lineDir)
	b.WriteString(s.src)
	for _, name := range used {
		fmt.Fprintf(&b, "\t_ = %s\n", name)
	}
	b.WriteString("}\n")
	return assemble(f, b.String()), nil
}

// assemble returns a file of package snippet holding code, which is f's
// code, with the imports and givens that f's unresolved names call for. A
// block with imports of its own gets no others.
func assemble(f *ast.File, code string) []byte {
	imports := map[string]bool{}
	var givens []string
	for _, id := range f.Unresolved {
		if typ, ok := snippetGivens[id.Name]; ok && !slices.Contains(givens, id.Name) {
			givens = append(givens, id.Name)
			for _, name := range packagesOf(typ) {
				imports[name] = true
			}
		}
		if _, ok := snippetImports[id.Name]; ok {
			imports[id.Name] = true
		}
	}
	if len(f.Imports) > 0 {
		clear(imports)
	}
	var b strings.Builder
	b.WriteString("// Code generated by TestREADMESnippets. DO NOT EDIT.\n\npackage snippet\n\n")
	names := make([]string, 0, len(imports))
	for name := range imports {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) > 0 {
		b.WriteString("import (\n")
		for _, name := range names {
			fmt.Fprintf(&b, "\t%s %q\n", name, snippetImports[name])
		}
		b.WriteString(")\n\n")
	}
	b.WriteString(code)
	// After the code, whose own imports must come first.
	sort.Strings(givens)
	b.WriteString("\n")
	for _, name := range givens {
		fmt.Fprintf(&b, "var %s %s\n", name, snippetGivens[name])
	}
	return []byte(b.String())
}

// packagesOf returns the package names that the type expression typ uses,
// such as "http" for "*http.ServeMux".
func packagesOf(typ string) []string {
	e, err := parser.ParseExpr(typ)
	if err != nil {
		panic(fmt.Sprintf("snippetGivens: type %q: %v", typ, err)) // a typo in the table
	}
	var names []string
	ast.Inspect(e, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				if _, known := snippetImports[id.Name]; !known {
					panic(fmt.Sprintf("snippetGivens: type %q: package %s is not in snippetImports", typ, id.Name))
				}
				names = append(names, id.Name)
			}
		}
		return true
	})
	return names
}

// TestGoBlocks checks the extraction and wrapping that TestREADMESnippets
// relies on: only go blocks, indentation of a list item removed, and each
// form wrapped by its rule.
func TestGoBlocks(t *testing.T) {
	md := "# T\n\n```sh\ngo run .\n```\n\n" +
		"- item\n\n  ```go\n  r, err := lim.Allow(ctx, \"k\", smartlimit.PerSecond(1))\n  ```\n\n" +
		"```go\nfunc handler(w http.ResponseWriter, r *http.Request) {}\n```\n\n" +
		"```go\npackage main\n\nfunc main() {}\n```\n"
	blocks, err := goBlocks("X/README.md", []byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(blocks), 3; got != want {
		t.Fatalf("goBlocks found %d blocks, want %d: %+v", got, want, blocks)
	}
	for i, want := range []struct {
		line     int
		contains []string
	}{
		{10, []string{"//line X/README.md:10\n", "func _() {\n", "r, err := lim.Allow", "_ = err\n", "_ = r\n",
			"\tsmartlimit \"github.com/smartlimit/smartlimit\"\n", "var ctx context.Context\n", "\tcontext \"context\"\n"}},
		{14, []string{"//line X/README.md:14\nfunc handler", "\thttp \"net/http\"\n"}},
		{18, []string{"//line X/README.md:18\npackage main\n"}},
	} {
		b := blocks[i]
		if b.line != want.line {
			t.Errorf("block %d starts at line %d, want %d", i, b.line, want.line)
		}
		src, err := b.file()
		if err != nil {
			t.Errorf("block %d: %v", i, err)
			continue
		}
		for _, s := range want.contains {
			if !strings.Contains(string(src), s) {
				t.Errorf("block %d: the file does not contain %q:\n%s", i, s, src)
			}
		}
	}
	// A block with its own imports gets no others; givens follow the code.
	src, err := snippet{path: "X/README.md", line: 3, src: "import \"net/http\"\n\nvar h http.Handler = mux\n"}.file()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(src), "package snippet\n\n//line X/README.md:3\nimport \"net/http\"\n\nvar h http.Handler = mux\n\nvar mux *http.ServeMux\n"; !strings.HasSuffix(got, want) {
		t.Errorf("a block with imports:\n%s\nwant it to end:\n%s", got, want)
	}

	_, err = snippet{path: "X/README.md", line: 5, src: "a := 1\nif a > 0 { ... }\n"}.file()
	if got, want := fmt.Sprint(err), "X/README.md:6: "; !strings.HasPrefix(got, want) {
		t.Errorf("an elision: error %q, want one starting %q", got, want)
	}
}
