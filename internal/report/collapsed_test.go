package report

import (
	"strings"
	"testing"
)

// A file shown in the summary stays inside its block whatever it holds.
func TestCollapsed(t *testing.T) {
	hostile := "a: 1\n```\n</details>\n# heading\n````yaml\nb: \x1b[31mred\x00\n"
	md := Summary(&Run{Images: []*Image{{SubjectName: "ghcr.io/acme/app", Sections: []Section{{
		Title: "Admission policy", Intro: "Apply it with `kubectl apply -f kyverno-policy.yaml`.",
		Collapsed: []Collapsed{{Summary: "kyverno-policy.yaml <b>", Lang: "yaml", Text: hostile}},
	}}}}})
	start := strings.Index(md, "<details><summary>kyverno-policy.yaml &lt;b&gt;</summary>\n\n`````yaml\n")
	if start < 0 {
		t.Fatalf("no block with a five-backtick fence:\n%s", md)
	}
	body := md[start:]
	end := strings.Index(body, "\n`````\n\n</details>\n")
	if end < 0 {
		t.Fatalf("the block does not end with its fence:\n%s", body)
	}
	inside := body[:end]
	for _, want := range []string{"a: 1\n```\n</details>", "````yaml", "b:  [31mred"} {
		if !strings.Contains(inside, want) {
			t.Errorf("the block lacks %q:\n%s", want, inside)
		}
	}
	if strings.ContainsAny(inside, "\x1b\x00") {
		t.Error("control characters reached the summary")
	}
	if strings.Count(md, "</details>") != 2 { // the policy's own line, inside the code block, and the block's end
		t.Errorf("</details> appears %d times", strings.Count(md, "</details>"))
	}
}
