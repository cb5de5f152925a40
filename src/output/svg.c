/*
 * svg.c - a self-contained interactive flame graph.
 *
 * The stacks are merged into a tree (children sorted by frame text, so
 * the same profile always draws the same) and drawn as an icicle: the
 * root ("all") at the top, callees below, each frame as wide as its share
 * of the samples; deep stacks grow downwards and the header follows the
 * scroll, so the controls stay at hand.  The file draws without scripts;
 * the embedded script adds the interaction: hover shows a frame and its
 * share, a click zooms into a frame, the search box highlights matching
 * frames and sums their share, "Reset zoom" (or Escape) goes back.
 * Nothing is loaded from outside: no fonts, scripts or images.
 *
 * Frames narrower than MIN_PX are not drawn (with their callees); how
 * many were left out is said in the subtitle.
 */
#define _GNU_SOURCE
#include "pyspy/cli.h"
#include "pyspy/output.h"
#include "output_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define IMG_WIDTH 1200
#define MARGIN 10
#define GRAPH_WIDTH (IMG_WIDTH - 2 * MARGIN)
#define FRAME_H 16
#define HEADER_H 96      /* title, subtitle, controls, details */
#define FONT_PX 12
#define CHAR_PX 7.2      /* advance of a 12 px monospace character */
#define MIN_PX 0.1

struct node {
	struct frame_ref f;
	uint64_t total;
	uint32_t parent, first_child, next_sibling, depth;
	uint32_t text;       /* index into the frame texts */
};

struct tree {
	struct node *nodes;
	size_t n, cap;
	uint32_t *slots;     /* (parent, frame) -> node index + 1 */
	size_t nslots;
	struct frame_map frames;   /* distinct frames -> texts[] */
	char **texts;
	size_t ntexts;
};

static uint64_t child_hash(uint32_t parent, struct frame_ref f)
{
	uint64_t h = ((uint64_t)parent << 32 | f.func) * 0x9e3779b97f4a7c15ull;

	h ^= (uint32_t)f.line * 0xc2b2ae3d27d4eb4full;
	return h ^ (h >> 29);
}

static int tree_grow_index(struct tree *t)
{
	size_t nslots = t->nslots ? t->nslots * 2 : 4096;
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -1;
	for (size_t i = 1; i < t->n; i++) {
		size_t s = child_hash(t->nodes[i].parent, t->nodes[i].f) & (nslots - 1);
		while (slots[s])
			s = (s + 1) & (nslots - 1);
		slots[s] = (uint32_t)i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

static long tree_child(struct tree *t, const struct profile *p, uint32_t parent,
		       struct frame_ref f, bool full)
{
	size_t s;
	long text;
	struct node *nd;

	if (t->n * 2 >= t->nslots && tree_grow_index(t))
		return -1;
	for (s = child_hash(parent, f) & (t->nslots - 1); t->slots[s];
	     s = (s + 1) & (t->nslots - 1)) {
		const struct node *c = &t->nodes[t->slots[s] - 1];
		if (c->parent == parent && c->f.func == f.func && c->f.line == f.line)
			return (long)(t->slots[s] - 1);
	}
	text = frame_map_get(&t->frames, f);
	if (text < 0)
		return -1;
	if ((size_t)text == t->ntexts) {
		char buf[8192];
		char **nt = realloc(t->texts, (t->ntexts + 1) * sizeof(*nt));
		if (!nt)
			return -1;
		t->texts = nt;
		output_frame_text(p, f, full, buf, sizeof(buf));
		t->texts[t->ntexts] = strdup(buf);
		if (!t->texts[t->ntexts])
			return -1;
		t->ntexts++;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap * 2;
		struct node *nn = realloc(t->nodes, cap * sizeof(*nn));
		if (!nn)
			return -1;
		t->nodes = nn;
		t->cap = cap;
	}
	nd = &t->nodes[t->n];
	*nd = (struct node){ .f = f, .parent = parent, .depth = t->nodes[parent].depth + 1,
			     .text = (uint32_t)text };
	nd->next_sibling = t->nodes[parent].first_child;
	t->nodes[parent].first_child = (uint32_t)t->n;
	t->slots[s] = (uint32_t)t->n + 1;
	return (long)t->n++;
}

static void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->ntexts; i++)
		free(t->texts[i]);
	free(t->texts);
	free(t->nodes);
	free(t->slots);
	frame_map_free(&t->frames);
}

static int cmp_child(const void *a, const void *b, void *ctx)
{
	const struct tree *t = ctx;
	const struct node *x = &t->nodes[*(const uint32_t *)a];
	const struct node *y = &t->nodes[*(const uint32_t *)b];

	return strcmp(t->texts[x->text], t->texts[y->text]);
}

/* Relink every node's children in order of their text. */
static int sort_children(struct tree *t)
{
	uint32_t *kids = malloc(t->n * sizeof(*kids));

	if (!kids)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		size_t k = 0;
		for (uint32_t c = t->nodes[i].first_child; c; c = t->nodes[c].next_sibling)
			kids[k++] = c;
		if (k < 2)
			continue;
		qsort_r(kids, k, sizeof(*kids), cmp_child, t);
		t->nodes[i].first_child = kids[0];
		for (size_t j = 0; j < k; j++)
			t->nodes[kids[j]].next_sibling = j + 1 < k ? kids[j + 1] : 0;
	}
	free(kids);
	return 0;
}

static int build_tree(struct tree *t, const struct profile *p, bool full)
{
	struct profile_iter it = { 0 };
	const struct frame_ref *frames;
	size_t n;
	uint64_t count;

	t->cap = 1024;
	t->nodes = calloc(t->cap, sizeof(*t->nodes));
	if (!t->nodes)
		return -1;
	t->n = 1;   /* node 0: the root, "all"; 0 also ends sibling lists */
	while (profile_next(p, &it, &frames, &n, &count)) {
		uint32_t cur = 0;
		t->nodes[0].total += count;
		for (size_t k = 0; k < n; k++) {
			long c = tree_child(t, p, cur, frames[k], full);
			if (c < 0)
				return -1;
			cur = (uint32_t)c;
			t->nodes[cur].total += count;
		}
	}
	return sort_children(t);
}

/* A warm colour from the function's name; thread roots and markers blue-grey. */
static void frame_color(const struct func *fn, bool root, char *buf, size_t cap)
{
	uint64_t h = 0xcbf29ce484222325ull;
	double hue, sat, light, c, x, m;

	if (root || !fn || fn->kind == FUNC_LABEL) {
		snprintf(buf, cap, root ? "#b8b8c0" : "#9fb4c8");
		return;
	}
	for (const char *s = fn->name ? fn->name : ""; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	/* HSL to RGB for a hue below 60 degrees: red is the largest part. */
	hue = (double)(h % 48);                 /* red to orange-yellow */
	sat = 0.70 + (double)((h >> 8) % 20) / 100;
	light = 0.58 + (double)((h >> 16) % 14) / 100;
	c = (1 - (2 * light - 1)) * sat;        /* light > 0.5 */
	x = c * hue / 60;
	m = light - c / 2;
	snprintf(buf, cap, "#%02x%02x%02x", (int)((c + m) * 255), (int)((x + m) * 255),
		 (int)(m * 255));
}

/* As many characters of s as fit in 'px', ".." marking a cut. */
static void write_fitted(FILE *out, const char *s, double px)
{
	size_t fit = px > 6 ? (size_t)((px - 6) / CHAR_PX) : 0, chars = 0, len = strlen(s), pos = 0;

	if (fit < 3)
		return;
	/* Count characters (not bytes) so a cut never splits one. */
	while (pos < len) {
		size_t used;
		output_utf8_next((const unsigned char *)s + pos, len - pos, &used);
		pos += used;
		chars++;
	}
	if (chars <= fit) {
		output_xml_text(out, s);
		return;
	}
	pos = 0;
	for (size_t i = 0; i + 2 < fit && pos < len; i++) {
		size_t used;
		output_utf8_next((const unsigned char *)s + pos, len - pos, &used);
		pos += used;
	}
	output_xml_text_n(out, s, pos);
	fputs("..", out);
}

static const char style[] =
	"text{font-family:monospace;font-size:12px;fill:#000}\n"
	"#title{font-size:17px}\n"
	"#sub,#details,#matched{fill:#444}\n"
	"g.f{cursor:pointer}\n"
	"g.f:hover rect{stroke:#000;stroke-width:0.6}\n"
	"g.f.hit rect{fill:#d946ef}\n"
	"g.f.anc{opacity:0.55}\n"
	"g.f.hide{display:none}\n"
	"#reset{cursor:pointer;fill:#1d4ed8;text-decoration:underline}\n"
	"#reset.off{fill:#999;text-decoration:none;cursor:default}\n"
	"input{font:12px monospace;width:280px;box-sizing:border-box}\n";

/* The interaction; plain ES5 on the DOM the C side drew. */
static const char script[] =
	"(function(){\n"
	"var svg=document.documentElement,NS='http://www.w3.org/2000/svg';\n"
	"var X0=+svg.getAttribute('data-x0'),W=+svg.getAttribute('data-w'),"
	"CH=+svg.getAttribute('data-ch');\n"
	"var hdr=document.getElementById('hdr'),details=document.getElementById('details');\n"
	"var reset=document.getElementById('reset'),matched=document.getElementById('matched');\n"
	"var search=document.getElementById('search'),hint=details.textContent;\n"
	"var fr=[],els=document.querySelectorAll('g.f'),zoomed=null;\n"
	"for(var i=0;i<els.length;i++){var g=els[i],r=g.querySelector('rect');\n"
	" var l=g.querySelector('title').textContent.split('\\n');\n"
	" g.setAttribute('data-i',i);\n"
	" fr.push({g:g,r:r,t:g.querySelector('text'),name:l[0],info:l.slice(1).join(', '),"
	"x:+r.getAttribute('x'),w:+r.getAttribute('width'),y:+r.getAttribute('y')});}\n"
	"function fit(s,px){var n=Math.floor((px-6)/CH),c=Array.from(s);"
	"if(n<3)return '';return c.length<=n?s:c.slice(0,n-2).join('')+'..';}\n"
	"function place(f,x,w){f.r.setAttribute('x',x.toFixed(3));"
	"f.r.setAttribute('width',w.toFixed(3));f.t.setAttribute('x',(x+3).toFixed(3));"
	"f.t.textContent=fit(f.name,w);}\n"
	"var E=0.002;\n"
	"function zoom(z){zoomed=z;var s=W/z.w;\n"
	" for(var i=0;i<fr.length;i++){var f=fr[i],c=f.g.classList;c.remove('anc');"
	"c.remove('hide');\n"
	"  if(f.y<z.y){if(f.x<=z.x+E&&f.x+f.w>=z.x+z.w-E){place(f,X0,W);c.add('anc');}"
	"else c.add('hide');}\n"
	"  else if(f.x>=z.x-E&&f.x+f.w<=z.x+z.w+E)place(f,X0+(f.x-z.x)*s,f.w*s);\n"
	"  else c.add('hide');}\n"
	" reset.classList.remove('off');}\n"
	"function unzoom(){zoomed=null;for(var i=0;i<fr.length;i++){var f=fr[i];"
	"f.g.classList.remove('anc','hide');place(f,f.x,f.w);}reset.classList.add('off');}\n"
	"function find(term){var hits=[],t=term.toLowerCase();\n"
	" for(var i=0;i<fr.length;i++){var f=fr[i],on=t!==''&&f.name.toLowerCase()"
	".indexOf(t)>=0;\n"
	"  f.g.classList.toggle('hit',on);if(on)hits.push([f.x,f.x+f.w]);}\n"
	" if(t===''){matched.textContent='';return;}\n"
	" hits.sort(function(a,b){return a[0]-b[0];});var sum=0,end=-1;\n"
	" for(var j=0;j<hits.length;j++){var a=Math.max(hits[j][0],end);"
	"if(hits[j][1]>a)sum+=hits[j][1]-a;end=Math.max(end,hits[j][1]);}\n"
	" matched.textContent='matched: '+(100*sum/W).toFixed(1)+'% of samples';}\n"
	"function frameOf(e){var n=e.target;while(n&&n!==svg){if(n.classList&&"
	"n.classList.contains('f'))return fr[+n.getAttribute('data-i')];n=n.parentNode;}"
	"return null;}\n"
	"svg.addEventListener('mouseover',function(e){var f=frameOf(e);"
	"details.textContent=f?f.name+' \\u2014 '+f.info:hint;});\n"
	"svg.addEventListener('click',function(e){var f=frameOf(e);if(f)zoom(f);});\n"
	"reset.addEventListener('click',function(){unzoom();});\n"
	"search.addEventListener('input',function(){find(search.value);});\n"
	"document.addEventListener('keydown',function(e){\n"
	" if(e.key==='Escape'){unzoom();search.value='';find('');}\n"
	" else if((e.key==='f'&&(e.ctrlKey||e.metaKey))||(e.key==='/'&&e.target!==search))"
	"{e.preventDefault();search.focus();}});\n"
	"window.addEventListener('scroll',function(){hdr.setAttribute('transform',"
	"'translate(0,'+(window.scrollY||0)+')');});\n"
	"window.pyspyFlame={zoom:function(i){zoom(fr[i]);},reset:unzoom,find:find,frames:fr};\n"
	"})();\n";

struct draw {
	FILE *out;
	const struct profile *p;
	const struct tree *t;
	double scale;        /* px per sample */
	uint64_t grand;
	size_t omitted, drawn;
	uint32_t max_depth;
};

static void draw_frame(struct draw *d, uint32_t i, double x)
{
	const struct node *nd = &d->t->nodes[i];
	const char *text = i ? d->t->texts[nd->text] : "all";
	const struct func *fn = i ? profile_func_get(d->p, nd->f.func) : NULL;
	double w = (double)nd->total * d->scale;
	int y = HEADER_H + (int)nd->depth * FRAME_H;
	char color[16];

	frame_color(fn, i == 0, color, sizeof(color));
	fputs("<g class=\"f\"><title>", d->out);
	output_xml_text(d->out, text);
	fprintf(d->out, "&#10;%" PRIu64 " sample%s, %.2f%%</title>", nd->total,
		nd->total == 1 ? "" : "s", d->grand ? 100.0 * (double)nd->total / (double)d->grand : 0);
	fprintf(d->out, "<rect x=\"%.3f\" y=\"%d\" width=\"%.3f\" height=\"%d\" fill=\"%s\"/>",
		x, y, w, FRAME_H - 1, color);
	fprintf(d->out, "<text x=\"%.3f\" y=\"%d\">", x + 3, y + FRAME_H - 4);
	write_fitted(d->out, text, w);
	fputs("</text></g>\n", d->out);
	d->drawn++;
	if (nd->depth > d->max_depth)
		d->max_depth = nd->depth;
}

static size_t subtree_size(const struct tree *t, uint32_t i, uint32_t *stack)
{
	size_t n = 0, sp = 0;

	stack[sp++] = i;
	while (sp) {
		uint32_t c = stack[--sp];
		n++;
		for (uint32_t k = t->nodes[c].first_child; k; k = t->nodes[k].next_sibling)
			stack[sp++] = k;
	}
	return n;
}

/* Pre-order, without recursion: stacks can be thousands of frames deep. */
static int draw_all(struct draw *d)
{
	const struct tree *t = d->t;
	uint32_t *stack = malloc(t->n * sizeof(*stack)), *scratch = malloc(t->n * sizeof(*scratch));
	double *xs = malloc(t->n * sizeof(*xs));
	size_t sp = 0;

	if (!stack || !xs || !scratch) {
		free(stack);
		free(xs);
		free(scratch);
		return -1;
	}
	stack[sp] = 0;
	xs[sp++] = MARGIN;
	while (sp) {
		uint32_t i;
		double x, cx;
		size_t first;

		sp--;
		i = stack[sp];
		x = xs[sp];
		if ((double)t->nodes[i].total * d->scale < MIN_PX) {
			d->omitted += subtree_size(t, i, scratch);
			continue;
		}
		draw_frame(d, i, x);
		/* Children pushed in reverse, so the first is drawn first. */
		first = sp;
		cx = x;
		for (uint32_t c = t->nodes[i].first_child; c; c = t->nodes[c].next_sibling) {
			stack[sp] = c;
			xs[sp++] = cx;
			cx += (double)t->nodes[c].total * d->scale;
		}
		for (size_t a = first, b = sp; a + 1 < b; a++, b--) {
			uint32_t ts = stack[a];
			double tx = xs[a];
			stack[a] = stack[b - 1], xs[a] = xs[b - 1];
			stack[b - 1] = ts, xs[b - 1] = tx;
		}
	}
	free(stack);
	free(xs);
	free(scratch);
	return 0;
}

static void write_header(FILE *out, const struct output_opts *o, uint64_t grand, size_t omitted)
{
	char start[40];

	fputs("<g id=\"hdr\"><rect x=\"0\" y=\"0\" width=\"100%\" height=\"", out);
	fprintf(out, "%d\" fill=\"#ffffff\"/>\n", HEADER_H - 4);
	fprintf(out, "<text id=\"title\" x=\"%d\" y=\"24\" text-anchor=\"middle\">pyspy-c: ",
		IMG_WIDTH / 2);
	if (o->command && *o->command) {
		/* a very long command line would not fit anyway */
		size_t len = strlen(o->command);
		output_xml_text_n(out, o->command, len > 120 ? 120 : len);
		if (len > 120)
			fputs("..", out);
	} else {
		fprintf(out, "pid %d", (int)o->pid);
	}
	fputs("</text>\n", out);
	output_iso_time(o->start_realtime_ns, start, sizeof(start));
	fprintf(out, "<text id=\"sub\" x=\"%d\" y=\"44\" text-anchor=\"middle\">pid %d, "
		"%" PRIu64 " samples in %.2f s at %g Hz (%" PRIu64 " failed): %" PRIu64
		" thread stacks, %s, from %s",
		IMG_WIDTH / 2, (int)o->pid, o->samples, o->duration, o->rate, o->failed, grand,
		o->idle ? "wall-clock time" : "CPU time (idle threads dropped)", start);
	if (omitted)
		fprintf(out, "; %zu frames narrower than %g px not drawn", omitted, MIN_PX);
	fputs("</text>\n", out);
	fprintf(out, "<foreignObject x=\"%d\" y=\"54\" width=\"290\" height=\"24\">"
		"<input xmlns=\"http://www.w3.org/1999/xhtml\" id=\"search\" type=\"search\" "
		"placeholder=\"search functions (/ or Ctrl-F)\" autocomplete=\"off\"/>"
		"</foreignObject>\n", MARGIN);
	fprintf(out, "<text id=\"reset\" class=\"off\" x=\"%d\" y=\"70\">Reset zoom</text>\n",
		MARGIN + 305);
	fprintf(out, "<text id=\"matched\" x=\"%d\" y=\"70\" text-anchor=\"end\"></text>\n",
		IMG_WIDTH - MARGIN);
	fprintf(out, "<text id=\"details\" x=\"%d\" y=\"88\">hover a frame for details, "
		"click to zoom</text>\n</g>\n", MARGIN);
}

static int write_svg(FILE *out, const struct profile *p, const struct output_opts *o)
{
	struct tree t = { 0 };
	struct draw d = { .out = out, .p = p, .t = &t };
	char *frames = NULL;
	size_t frames_len = 0;
	FILE *fo;
	int rc = -1, height;

	if (build_tree(&t, p, o->full_filenames))
		goto out;
	d.grand = t.nodes[0].total;
	d.scale = d.grand ? (double)GRAPH_WIDTH / (double)d.grand : 0;
	/* Frames first into memory: the height depends on the deepest one drawn. */
	fo = open_memstream(&frames, &frames_len);
	if (!fo)
		goto out;
	d.out = fo;
	if (d.grand && draw_all(&d)) {
		fclose(fo);
		goto out;
	}
	if (fclose(fo) != 0)
		goto out;
	height = HEADER_H + (int)(d.max_depth + 1) * FRAME_H + MARGIN;
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" data-x0=\"%d\" data-w=\"%d\" data-ch=\"%g\">\n",
		IMG_WIDTH, height, IMG_WIDTH, height, MARGIN, GRAPH_WIDTH, CHAR_PX);
	fputs("<title>pyspy-c flame graph", out);
	if (o->command && *o->command) {
		fputs(": ", out);
		output_xml_text_n(out, o->command, strlen(o->command) > 80 ? 80 : strlen(o->command));
	}
	fprintf(out, "</title>\n<style>\n%s</style>\n", style);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
	fputs("<g id=\"frames\">\n", out);
	if (frames_len)
		fwrite(frames, 1, frames_len, out);
	if (!d.grand)
		fprintf(out, "<text x=\"%d\" y=\"%d\">no samples</text>\n", MARGIN,
			HEADER_H + FRAME_H - 4);
	fputs("</g>\n", out);
	write_header(out, o, d.grand, d.omitted);
	fprintf(out, "<script type=\"text/javascript\"><![CDATA[\n%s]]></script>\n</svg>\n",
		script);
	rc = ferror(out) ? -1 : 0;
out:
	free(frames);
	tree_free(&t);
	return rc;
}

const struct output_format output_format_svg = {
	.name = "svg",
	.summary = "interactive flame graph, self-contained SVG",
	.write = write_svg,
};
