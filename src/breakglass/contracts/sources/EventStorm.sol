// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title EventStorm
/// @notice Emits many logs per transaction, for log decoding tests and benchmarks.
/// @dev `storm(n)` emits n ERC-20-shaped `Transfer` events and n Uniswap-V2-shaped `Swap`
///      events; `note` emits one event with dynamic indexed and non-indexed arguments.
contract EventStorm {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Swap(
        address indexed sender,
        uint256 amount0In,
        uint256 amount1In,
        uint256 amount0Out,
        uint256 amount1Out,
        address indexed to
    );
    event Note(
        string indexed topic,
        bytes32 indexed key,
        bool indexed flag,
        string text,
        bytes blob,
        int256 delta,
        uint256[] values
    );

    uint256 public storms;

    function storm(uint256 n) external {
        uint256 base = storms;
        for (uint256 i = 0; i < n; ++i) {
            address from = address(uint160(uint256(keccak256(abi.encode(base, i)))));
            emit Transfer(from, msg.sender, base * 1_000_000 + i);
            emit Swap(msg.sender, i, i * 3, i * 7 + 1, type(uint256).max - i, from);
        }
        storms = base + 1;
    }

    function transfers(uint256 n) external {
        for (uint256 i = 0; i < n; ++i) {
            emit Transfer(msg.sender, address(uint160(i + 1)), i);
        }
    }

    function note(
        string calldata topic,
        bytes32 key,
        bool flag,
        string calldata text,
        bytes calldata blob,
        int256 delta,
        uint256[] calldata values
    ) external {
        emit Note(topic, key, flag, text, blob, delta, values);
    }
}
