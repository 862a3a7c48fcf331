import VaultCore
import VaultFormat

/// Decoded committed pages, shared by every snapshot and the writer of one store.
///
/// An entry is found by its page number and used only if its checksum and transaction
/// equal the link being followed: a page number reused by a writer in another process
/// simply misses. Eviction is CLOCK (second chance) within a byte budget.
final class PageCache: Sendable {
  private struct Slot {
    var node: Node
    var referenced: Bool
  }

  private struct State {
    var index = PageIndex()
    var slots: [Slot?] = []
    var freeSlots: [Int] = []
    var hand = 0
    var bytes = 0
    var hits = 0
    var misses = 0
  }

  private let state = Locked(State())
  private let budget: Int
  private let pageSize: Int

  init(budgetBytes: Int, pageSize: Int) {
    self.budget = max(budgetBytes, pageSize * 4)
    self.pageSize = pageSize
  }

  /// The cached node for `link`, if present and current.
  func node(for link: PageLink) -> Node? {
    state.withLock { state in
      guard let position = state.index.value(for: link.page.rawValue),
        let slot = state.slots[position]
      else {
        state.misses += 1
        return nil
      }
      guard slot.node.link == link else {
        state.misses += 1
        return nil
      }
      if !slot.referenced { state.slots[position]?.referenced = true }
      state.hits += 1
      return slot.node
    }
  }

  /// Adds or replaces the node of its page.
  func insert(_ node: Node) {
    state.withLock { state in
      let key = node.link.page.rawValue
      if let position = state.index.value(for: key) {
        state.slots[position] = Slot(node: node, referenced: true)
        return
      }
      while state.bytes + pageSize > budget, state.index.count > 0 {
        evictOne(&state)
      }
      let position: Int
      if let free = state.freeSlots.popLast() {
        position = free
        state.slots[position] = Slot(node: node, referenced: false)
      } else {
        position = state.slots.count
        state.slots.append(Slot(node: node, referenced: false))
      }
      state.index.set(position, for: key)
      state.bytes += pageSize
    }
  }

  /// Forgets everything (after a failed sync, when the OS page cache cannot be trusted).
  func removeAll() {
    state.withLock { $0 = State() }
  }

  private func evictOne(_ state: inout State) {
    while true {
      if state.hand >= state.slots.count { state.hand = 0 }
      let position = state.hand
      state.hand += 1
      guard let slot = state.slots[position] else { continue }
      if slot.referenced {
        state.slots[position]?.referenced = false
        continue
      }
      state.index.remove(slot.node.link.page.rawValue)
      state.slots[position] = nil
      state.freeSlots.append(position)
      state.bytes -= pageSize
      return
    }
  }

  /// Hit and miss counts since the store opened.
  var statistics: (hits: Int, misses: Int) {
    state.withLock { ($0.hits, $0.misses) }
  }
}
