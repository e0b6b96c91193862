package report

import (
	"net/url"
	"strings"
)

// Link is a Markdown link for a Section row, which escapes it as a cell (pipes, HTML, line
// breaks). Both halves come from advisories, so both are hostile: the text's brackets and
// backslashes are escaped, the URL is kept only if it is http(s) with a host and no
// credentials, and every character Markdown could read as the end of the link or the cell is
// percent-encoded. Without a usable URL it is the text alone.
func Link(text, target string) string {
	text = strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`).Replace(text)
	u, err := url.Parse(strings.TrimSpace(target))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return text
	}
	safe := strings.NewReplacer("(", "%28", ")", "%29", " ", "%20", "|", "%7C", "<", "%3C", ">", "%3E",
		"[", "%5B", "]", "%5D", "`", "%60", `"`, "%22", "'", "%27", "\\", "%5C").Replace(u.String())
	return "[" + text + "](" + safe + ")"
}
