// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "@openzeppelin/contracts/access/Ownable.sol";
import "@openzeppelin/contracts/security/Pausable.sol";
import "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title DrillTreasury
/// @notice A DAO treasury for the `governance-takeover` drill: only its owner (the DAO's
///         TimelockController) releases funds, and a guardian may pause releases while a
///         suspicious proposal is looked at. Never deploy it with real funds.
contract DrillTreasury is Ownable, Pausable {
    using SafeERC20 for IERC20;

    address public immutable guardian;

    event Released(address indexed token, address indexed to, uint256 amount);

    constructor(address owner_, address guardian_) {
        _transferOwnership(owner_);
        guardian = guardian_;
    }

    function release(IERC20 token, address to, uint256 amount) external onlyOwner whenNotPaused {
        token.safeTransfer(to, amount);
        emit Released(address(token), to, amount);
    }

    function pause() external {
        require(msg.sender == guardian || msg.sender == owner(), "DrillTreasury: not guardian");
        _pause();
    }

    function unpause() external onlyOwner {
        _unpause();
    }
}
