"""The review chain (谁审核谁负责): levels above the school, return sheets out, signed sheets back in."""
