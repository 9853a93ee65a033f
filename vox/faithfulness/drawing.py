"""The traced model drawn as a picture (SVG), offline, with Matplotlib.

``vox diagram ID --format svg`` and the run report draw the graphs of
``vox.faithfulness.diagram`` the way the blog's mermaid renderer drew them:
top to bottom, one box per node with the blog's fields (``node_text``:
kind; ch, ksize, stride, padding; BatchNormalization and the activation
in order), rounded boxes for the inputs and outputs, circles for the
StarGAN label ``repeat`` and ``concat``, every arrow labelled with the
traced ``C x T x F`` shape.  A box or an arrow named by an
``experiments/<ID>/ERRATA.md`` heading (the place where vox's model and
the blog's drawing part ways, or where the blog is silent) is drawn in red
with a tag ``E<n>``; the legend under the graph says which heading each
tag is.

Layout: a node's row is the longest path from an input, then pulled down
as close above its first consumer as it can go (the label input sits next
to the layer it is concatenated with, as in the blog); in a row, nodes sit
under the mean of their inputs, pushed apart where they would overlap.
"""
import html
import io
import textwrap

from vox.faithfulness.check import parse_errata
from vox.faithfulness.diagram import (experiment_dir, fmt_shape, node_text,
                                      select_graphs)

FONT = 7.0          # points
LINE = 9.5          # points per text line
PAD = 5.0           # points inside a box
ROW_GAP = 26.0      # points between rows (room for the arrow's label)
COL_GAP = 16.0      # points between boxes in a row
CHAR = 0.56         # a character's width in FONT units (DejaVu Sans)
MARGIN = 12.0
ERRATA_COLOUR = '#c0392b'
FILL = {'input': '#dbe9f6', 'output': '#dbe9f6', 'block': '#ffffff',
        'op': '#fff4cc'}


def box_lines(node):
    """The lines of a node's box (``node_text`` without the HTML)."""
    return [html.unescape(t) for t in node_text(node).split('<br/>')]


def box_size(node):
    lines = box_lines(node)
    width = max(len(t) for t in lines) * FONT * CHAR + 2 * PAD
    height = len(lines) * LINE + 2 * PAD
    if node['type'] == 'op':  # a circle
        side = max(width, height)
        return side, side
    return max(width, 60.0), height


def layers(graph):
    """``{node id: row}``: longest path, then as late as possible."""
    ids = [n['id'] for n in graph['nodes']]
    parents = {i: [] for i in ids}
    children = {i: [] for i in ids}
    for e in graph['edges']:
        parents[e['to']].append(e['from'])
        children[e['from']].append(e['to'])
    row = {}
    for i in ids:  # trace order is a topological order
        row[i] = max((row[p] + 1 for p in parents[i]), default=0)
    for i in reversed(ids):
        if children[i]:
            row[i] = min(row[c] for c in children[i]) - 1
    return row, parents


def shows_id(node):
    """Blocks and ops carry their id (the name ERRATA headings use)."""
    return node['type'] in ('block', 'op')


def id_width(node):
    return len(node['id']) * (FONT - 1) * CHAR + 4 if shows_id(node) else 0.0


def tag_width(tags):
    return len(_tags(tags)) * FONT * CHAR + 4 if tags else 0.0


def layout(graph, node_marks=None):
    """``{node id: (x centre, y top, width, height)}`` in points, y down.

    Boxes in a row keep their id (left) and ERRATA tags (right) clear.
    """
    node_marks = node_marks or {}
    row, parents = layers(graph)
    sizes = {n['id']: box_size(n) for n in graph['nodes']}
    left_room = {n['id']: id_width(n) for n in graph['nodes']}
    right_room = {n['id']: tag_width(node_marks.get(n['id']))
                  for n in graph['nodes']}
    order = {n['id']: k for k, n in enumerate(graph['nodes'])}
    rows = {}
    for i in order:
        rows.setdefault(row[i], []).append(i)
    x = {}
    y = 0.0
    place = {}
    for r in sorted(rows):
        members = rows[r]
        wanted = {}
        for i in members:
            ps = [x[p] for p in parents[i] if p in x]
            wanted[i] = sum(ps) / len(ps) if ps else None
        fed = [i for i in members if wanted[i] is not None]
        right = max((wanted[i] for i in fed), default=0.0)
        for i in members:  # no input drawn yet: to the right of the row
            if wanted[i] is None:
                right += (sizes[i][0] + COL_GAP) if fed else 0.0
                wanted[i] = right
        members.sort(key=lambda i: (wanted[i], order[i]))
        pos = []
        for k, i in enumerate(members):
            if k == 0:
                pos.append(wanted[i])
                continue
            prev = members[k - 1]
            least = (pos[-1] + (sizes[prev][0] + sizes[i][0]) / 2 + COL_GAP
                     + right_room[prev] + left_room[i])
            pos.append(max(wanted[i], least))
        # centred on where the fed nodes wanted to be (the others follow)
        moved = [(wanted[i], p) for i, p in zip(members, pos)
                 if i in fed] or [(wanted[i], p) for i, p in zip(members, pos)]
        shift = sum(w - p for w, p in moved) / len(moved)
        pos = [p + shift for p in pos]
        height = max(sizes[i][1] for i in members)
        for i, p in zip(members, pos):
            x[i] = p
            place[i] = (p, y + (height - sizes[i][1]) / 2) + sizes[i]
        y += height + ROW_GAP
    return place


def errata_marks(graph, errata_text):
    """``(nodes, edges, legend)`` the ERRATA headings name in ``graph``.

    ``nodes``: node id -> [tag]; ``edges``: (from, to) -> [tag];
    ``legend``: [(tag, heading)].  An edge heading whose edge is not
    drawn (the blog's box names differ) marks the boxes it names.
    """
    ids = [n['id'] for n in graph['nodes']]
    edges = {(e['from'], e['to']) for e in graph['edges']}
    node_marks, edge_marks, legend = {}, {}, []
    if not errata_text:
        return node_marks, edge_marks, legend
    for entry in parse_errata(errata_text, {graph['name']: ids}):
        hits = []
        for g, kind, target in entry.targets:
            if g not in (None, graph['name']):
                continue
            if kind == 'edge' and tuple(target) in edges:
                hits.append(('edge', tuple(target)))
            elif kind == 'edge':
                hits += [('node', t) for t in target if t in ids]
            elif target in ids:
                hits.append(('node', target))
        if not hits:
            continue
        tag = f'E{len(legend) + 1}'
        legend.append((tag, entry.heading))
        for kind, target in hits:
            marks = node_marks if kind == 'node' else edge_marks
            marks.setdefault(target, []).append(tag)
    return node_marks, edge_marks, legend


def _tags(tags, limit=3):
    return ','.join(tags[:limit]) + ('…' if len(tags) > limit else '')


def draw(graphs, errata_text=None, title=True, fmt='svg'):
    """The graphs side by side as one SVG document (text).

    ``fmt='png'`` returns PNG bytes of the same picture instead.
    """
    # matplotlib is imported here: only drawing needs it, and it is heavy.
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path

    panels = []
    left = MARGIN
    total_h = 0.0
    for graph in graphs:
        marks = errata_marks(graph, errata_text)
        place = layout(graph, marks[0])
        x0 = min(place[n['id']][0] - place[n['id']][2] / 2 - id_width(n)
                 for n in graph['nodes'])
        x1 = max(place[n['id']][0] + place[n['id']][2] / 2
                 + tag_width(marks[0].get(n['id'])) for n in graph['nodes'])
        row, _ = layers(graph)
        if any(row[e['to']] - row[e['from']] > 1 for e in graph['edges']):
            x0 -= 22  # room for a skip connection's arrow and label
        width = x1 - x0
        legend = []
        for tag, heading in marks[2]:
            legend += textwrap.wrap(f'{tag}: {heading}',
                                    max(20, int(width / (FONT * CHAR))))
        head = 2 * LINE + 4 if title else 0.0
        height = head + max(p[1] + p[3] for p in place.values())
        if legend:
            height += (len(legend) + 2.5) * LINE
        panels.append((graph, place, marks, left - x0, head, width, legend))
        left += width + 3 * MARGIN
        total_h = max(total_h, height)
    total_w = left - 2 * MARGIN
    total_h += 2 * MARGIN
    fig = Figure(figsize=(total_w / 72, total_h / 72))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, total_w)
    ax.set_ylim(total_h, 0)  # y down, in points
    ax.axis('off')
    for graph, place, (node_marks, edge_marks, _), dx, head, _, legend \
            in panels:
        top = MARGIN + head
        row, _ = layers(graph)
        by_id = {n['id']: n for n in graph['nodes']}
        fan_out = {n['id']: 0 for n in graph['nodes']}
        for e in graph['edges']:
            fan_out[e['from']] += 1
        if title:
            ax.text(dx + min(p[0] - p[2] / 2 for p in place.values()),
                    MARGIN, graph.get('title') or graph['name'],
                    fontsize=FONT + 3, fontweight='bold', va='top')
            ax.text(dx + min(p[0] - p[2] / 2 for p in place.values()),
                    MARGIN + LINE + 3,
                    f"{graph['link']} (width {graph['width']:g})",
                    fontsize=FONT, color='#555555', va='top')
        for e in graph['edges']:
            xa, ya, wa, ha = place[e['from']]
            xb, yb, wb, hb = place[e['to']]
            start = (xa + dx, top + ya + ha)
            end = (xb + dx, top + yb)
            tags = edge_marks.get((e['from'], e['to']))
            colour = ERRATA_COLOUR if tags else '#444444'
            label = fmt_shape(e['shape'])
            if tags:
                label += f'  [{_tags(tags)}]'
            between = [n for n, r in row.items()
                       if row[e['from']] < r < row[e['to']]]
            if between:  # a skip connection: around the boxes, on the left
                side = min(place[n][0] - place[n][2] / 2 - id_width(
                    by_id[n]) for n in between + [e['from'], e['to']])
                side += dx - 8
                start = (xa + dx - wa / 2, top + ya + ha / 2)
                end = (xb + dx - wb / 2, top + yb + hb / 2)
                path = Path([start, (side, start[1]), (side, end[1]), end])
                ax.add_patch(FancyArrowPatch(
                    path=path, arrowstyle='-|>', mutation_scale=7,
                    color=colour, linewidth=0.8))
                ax.text(side - 2, (start[1] + end[1]) / 2, label,
                        fontsize=FONT - 1, ha='right', va='center',
                        rotation=90, color=colour)
                continue
            ax.add_patch(FancyArrowPatch(
                start, end, arrowstyle='-|>', mutation_scale=7,
                color=colour, linewidth=0.8, shrinkA=0, shrinkB=0.5))
            # fanned-out arrows are labelled near their heads, apart
            t = 0.68 if fan_out[e['from']] > 1 else 0.5
            mid = (start[0] + t * (end[0] - start[0]),
                   start[1] + t * (end[1] - start[1]))
            ax.text(mid[0], mid[1], label, fontsize=FONT - 1,
                    ha='center', va='center', color=colour,
                    bbox=dict(boxstyle='round,pad=0.15', fc='white',
                              ec='none', alpha=0.9))
        for node in graph['nodes']:
            cx, y, w, h = place[node['id']]
            cx += dx
            tags = node_marks.get(node['id'])
            edge = ERRATA_COLOUR if tags else '#333333'
            style = {'input': 'round,pad=0,rounding_size=8',
                     'output': 'round,pad=0,rounding_size=8',
                     'op': f'round,pad=0,rounding_size={w / 2}'}.get(
                         node['type'], 'square,pad=0')
            ax.add_patch(FancyBboxPatch(
                (cx - w / 2, top + y), w, h, boxstyle=style,
                fc=FILL.get(node['type'], '#ffffff'), ec=edge,
                linewidth=1.4 if tags else 0.8))
            lines = box_lines(node)
            ax.text(cx, top + y + h / 2, '\n'.join(lines), fontsize=FONT,
                    ha='center', va='center', linespacing=1.25,
                    fontweight='normal')
            if shows_id(node):  # the id the ERRATA headings name
                ax.text(cx - w / 2 - 3, top + y + 2, node['id'],
                        fontsize=FONT - 1, color='#777777', va='top',
                        ha='right')
            if tags:
                ax.text(cx + w / 2 + 3, top + y + 2, _tags(tags),
                        fontsize=FONT - 0.5, color=ERRATA_COLOUR, va='top',
                        fontweight='bold')
        if legend:
            bottom = top + max(p[1] + p[3] for p in place.values()) + LINE
            x_left = dx + min(p[0] - p[2] / 2 for p in place.values())
            ax.text(x_left, bottom, 'Red: a box or arrow named by an '
                    'ERRATA.md entry (see Errata)\n'
                    + '\n'.join(legend), fontsize=FONT - 0.5,
                    color=ERRATA_COLOUR, va='top', linespacing=1.3)
    if fmt == 'png':
        buf = io.BytesIO()
        fig.savefig(buf, format='png', dpi=144)
        return buf.getvalue()
    buf = io.StringIO()
    # svg.fonttype 'path': the text as outlines, so the picture is the same
    # in every browser without the font; hashsalt: a reproducible file.
    with matplotlib.rc_context({'svg.fonttype': 'path',
                                'svg.hashsalt': 'vox'}):
        fig.savefig(buf, format='svg', metadata={'Date': None})
    return buf.getvalue()


def render_svg(exp_id, graph=None):
    """What ``vox diagram ID --format svg`` writes: the blog-size models."""
    d = select_graphs(exp_id, graph)
    errata = experiment_dir(exp_id) / 'ERRATA.md'
    return draw(d['graphs'], errata.read_text() if errata.exists() else None)
