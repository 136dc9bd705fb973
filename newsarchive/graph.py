"""The citation network of the archive, for the data package: which post links to which.

One edge per citing post and cited post (links.target_post_id, a post linking to itself
left out), weighted by the number of links the citing post makes to the cited one; one
node per post that cites or is cited, with its title, publication time and category.
Written three ways: a CSV edge list (a tabular resource, with foreign keys into posts),
and GraphML and GEXF through networkx's writers, the two formats Gephi, Cytoscape and
igraph open with the attributes typed.
"""
from __future__ import annotations

import csv
import os
import sqlite3
from pathlib import Path
from typing import Callable, NamedTuple

import networkx as nx

EDGES_SQL = """
select post_id, target_post_id, count(*) from links
where target_post_id is not null and target_post_id <> post_id
group by post_id, target_post_id
order by post_id, target_post_id
"""

NODES_SQL = """
select id, title, published_at, category from posts
where id in (select post_id from links where target_post_id is not null and target_post_id <> post_id)
   or id in (select target_post_id from links where target_post_id <> post_id)
order by id
"""

#: The edge list's columns: citing post, cited post, links from one to the other.
EDGE_FIELDS = (
    ("citing_post_id", "string", "The post that links (posts.id)."),
    ("cited_post_id", "string", "The post it links to (posts.id)."),
    ("links", "integer", "How many links the citing post makes to the cited post."),
)

#: File name, resource name, format and media type of each graph file; GEXF has no
#: registered media type, so it is named as the XML it is.
FILES = (
    ("citations.csv", "citations", "csv", "text/csv"),
    ("citations.graphml", "citations-graphml", "graphml", "application/graphml+xml"),
    ("citations.gexf", "citations-gexf", "gexf", "application/xml"),
)
RESOURCE_NAMES = tuple(name for _, name, _, _ in FILES)


class Edge(NamedTuple):
    citing: str
    cited: str
    links: int


def edges(conn: sqlite3.Connection) -> list[Edge]:
    return [Edge(*row) for row in conn.execute(EDGES_SQL)]


def citation_graph(conn: sqlite3.Connection) -> nx.DiGraph:
    """citing -> cited. Missing values are empty text: GraphML and GEXF have no null."""
    graph = nx.DiGraph()
    for post_id, title, published_at, category in conn.execute(NODES_SQL):
        graph.add_node(post_id, label=title or post_id, title=title or "", published_at=published_at or "",
                       category=category or "")
    for edge in edges(conn):
        # `weight` is the attribute Gephi reads as an edge's weight; `links` names it.
        graph.add_edge(edge.citing, edge.cited, links=edge.links, weight=edge.links)
    return graph


def write_edge_list(conn: sqlite3.Connection, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([name for name, _, _ in EDGE_FIELDS])
        writer.writerows(edges(conn))


def edge_schema(posts_resource: str) -> dict:
    """The edge list's Table Schema: both ends refer to the posts resource."""
    return {
        "fields": [{"name": name, "type": kind, "description": text} for name, kind, text in EDGE_FIELDS],
        "primaryKey": ["citing_post_id", "cited_post_id"],
        "foreignKeys": [
            {"fields": "citing_post_id", "reference": {"resource": posts_resource, "fields": "id"}},
            {"fields": "cited_post_id", "reference": {"resource": posts_resource, "fields": "id"}},
        ],
    }


def writers(conn: sqlite3.Connection) -> dict[str, Callable[[Path], None]]:
    """Format -> a function writing that file; the graph is read from the database once."""
    graph: list[nx.DiGraph] = []

    def read() -> nx.DiGraph:
        if not graph:
            graph.append(citation_graph(conn))
        return graph[0]

    return {
        "csv": lambda path: write_edge_list(conn, path),
        "graphml": lambda path: nx.write_graphml(read(), path, encoding="utf-8"),
        "gexf": lambda path: nx.write_gexf(read(), path, encoding="utf-8"),
    }


def write_atomically(write: Callable[[Path], None], path: Path) -> None:
    """Through a temporary name, so a failure leaves no half file under the real one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
