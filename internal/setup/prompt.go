package setup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/devmgr/devmgr/internal/config"
)

// Prompter asks, on a terminal, for the answers that were not given.
type Prompter struct {
	In  *bufio.Reader
	Out io.Writer
	// ReadSecret reads a line without echoing it; nil reads it from In.
	ReadSecret func() (string, error)
}

// maxTries bounds how often one question is asked again after a bad answer.
const maxTries = 5

// Ask fills every empty answer by asking. Defaults come from the config
// file that was there (have) and from the interfaces found.
func (p Prompter) Ask(a *Answers, base config.Config, have bool, ifs []Interface) error {
	if a.Country == "" {
		def := ""
		if have {
			def = base.AP.Country
		}
		v, err := p.ask("Country where the device runs (ISO 3166 code such as US, DE, GB; it decides the legal WiFi channels)", def, checkCountry)
		if err != nil {
			return err
		}
		a.Country = strings.ToUpper(v)
	}
	if a.SSID == "" {
		def := ""
		if have {
			def = base.AP.SSID
		}
		v, err := p.ask("WiFi network name (SSID)", def, config.CheckSSID)
		if err != nil {
			return err
		}
		a.SSID = v
	}
	if a.Passphrase == "" {
		v, err := p.askPassphrase(have && base.AP.Passphrase != "")
		if err != nil {
			return err
		}
		a.Passphrase = v // "" keeps the file's
	}
	if a.APInterface == "" {
		cands := APCandidates(ifs)
		def := ""
		if have {
			def = base.AP.Interface
		} else if len(cands) > 0 {
			def = cands[0].Name
		}
		v, err := p.choose("Interface of the access point", cands, def, false)
		if err != nil {
			return err
		}
		a.APInterface = v[0]
	}
	if a.Uplinks == nil {
		cands := UplinkCandidates(ifs, a.APInterface)
		var def []string
		if have {
			def = base.Uplinks
		} else {
			for _, i := range cands {
				if i.Gateway != "" {
					def = append(def, i.Name)
				}
			}
		}
		v, err := p.choose("Uplinks: the WiFi clients reach the internet through them (NAT); several with commas, - for none",
			cands, strings.Join(def, ","), true)
		if err != nil {
			return err
		}
		a.Uplinks = v
	}
	return nil
}

// ask asks one question until check accepts the answer; an empty answer
// takes def when there is one.
func (p Prompter) ask(question, def string, check func(string) error) (string, error) {
	for range maxTries {
		if def != "" {
			fmt.Fprintf(p.Out, "%s [%s]: ", question, def)
		} else {
			fmt.Fprintf(p.Out, "%s: ", question)
		}
		v, err := p.line()
		if err != nil {
			return "", err
		}
		if v == "" {
			v = def
		}
		if v == "" {
			fmt.Fprintln(p.Out, "  an answer is needed")
			continue
		}
		if err := check(v); err != nil {
			fmt.Fprintf(p.Out, "  %v\n", err)
			continue
		}
		return v, nil
	}
	return "", fmt.Errorf("no usable answer to %q after %d tries", question, maxTries)
}

func (p Prompter) askPassphrase(keep bool) (string, error) {
	q := "WiFi passphrase (8 to 63 characters)"
	if keep {
		q += " [keep the current one]"
	}
	for range maxTries {
		fmt.Fprintf(p.Out, "%s: ", q)
		v, err := p.secret()
		if err != nil {
			return "", err
		}
		if v == "" && keep {
			return "", nil
		}
		if err := config.CheckPassphrase(v); err != nil {
			fmt.Fprintf(p.Out, "  the passphrase %v\n", err)
			continue
		}
		fmt.Fprint(p.Out, "Once more: ")
		again, err := p.secret()
		if err != nil {
			return "", err
		}
		if again != v {
			fmt.Fprintln(p.Out, "  the two differ")
			continue
		}
		return v, nil
	}
	return "", fmt.Errorf("no usable passphrase after %d tries", maxTries)
}

// choose offers cands, numbered, and takes numbers or names (several,
// comma-separated, when many is set; "-" for none). def is the answer to
// an empty line.
func (p Prompter) choose(question string, cands []Interface, def string, many bool) ([]string, error) {
	fmt.Fprintf(p.Out, "%s:\n", question)
	if len(cands) == 0 {
		fmt.Fprintln(p.Out, "  (none found; type a name)")
	}
	for n, c := range cands {
		fmt.Fprintf(p.Out, "  %d) %-10s %s\n", n+1, c.Name, c.Describe())
	}
	for range maxTries {
		if def != "" {
			fmt.Fprintf(p.Out, "Choose [%s]: ", def)
		} else {
			fmt.Fprint(p.Out, "Choose: ")
		}
		v, err := p.line()
		if err != nil {
			return nil, err
		}
		if v == "" {
			v = def
		}
		names, err := pick(v, cands, many)
		if err != nil {
			fmt.Fprintf(p.Out, "  %v\n", err)
			continue
		}
		return names, nil
	}
	return nil, fmt.Errorf("no usable answer to %q after %d tries", question, maxTries)
}

// pick turns an answer of numbers or names into interface names.
func pick(v string, cands []Interface, many bool) ([]string, error) {
	v = strings.TrimSpace(v)
	if v == "-" && many {
		return []string{}, nil
	}
	var names []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if n, err := strconv.Atoi(f); err == nil {
			if n < 1 || n > len(cands) {
				return nil, fmt.Errorf("%d is not one of the numbers shown", n)
			}
			f = cands[n-1].Name
		} else if err := config.CheckInterfaceName(f); err != nil {
			return nil, err
		}
		if !slices.Contains(names, f) {
			names = append(names, f)
		}
	}
	switch {
	case len(names) == 0:
		return nil, errors.New("an answer is needed")
	case len(names) > 1 && !many:
		return nil, errors.New("choose one")
	}
	return names, nil
}

func (p Prompter) line() (string, error) {
	s, err := p.rawLine()
	return strings.TrimSpace(s), err
}

// rawLine reads a line without its line ending; spaces stay (a passphrase
// may end in one).
func (p Prompter) rawLine() (string, error) {
	s, err := p.In.ReadString('\n')
	if err != nil && (s == "" || !errors.Is(err, io.EOF)) {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no answer: input ended")
		}
		return "", fmt.Errorf("reading answer: %w", err)
	}
	return strings.TrimRight(s, "\r\n"), nil
}

func (p Prompter) secret() (string, error) {
	if p.ReadSecret == nil {
		return p.rawLine()
	}
	s, err := p.ReadSecret()
	fmt.Fprintln(p.Out)
	return s, err
}
