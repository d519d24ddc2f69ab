// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "@openzeppelin/contracts/access/AccessControl.sol";
import "@openzeppelin/contracts/security/Pausable.sol";
import "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title DrainableVault
/// @notice An ERC-20 vault that users deposit into, pausable by a guardian, with a deliberate
///         flaw for benchmarks, demos and drills: `emergencyWithdraw` was meant for the admin
///         but lost its role check, so anyone can move the vault's funds while it is not
///         paused. Never deploy it with real funds.
contract DrainableVault is AccessControl, Pausable {
    using SafeERC20 for IERC20;

    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    IERC20 public immutable token;
    mapping(address => uint256) public balances;
    uint256 public totalDeposits;

    event Deposited(address indexed user, uint256 amount);
    event Withdrawn(address indexed user, uint256 amount);
    event EmergencyWithdrawal(address indexed to, uint256 amount);

    constructor(IERC20 asset, address admin, address pauser) {
        token = asset;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        if (pauser != admin) {
            _grantRole(PAUSER_ROLE, pauser);
        }
    }

    function deposit(uint256 amount) external whenNotPaused {
        balances[msg.sender] += amount;
        totalDeposits += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, amount);
    }

    function withdraw(uint256 amount) external whenNotPaused {
        balances[msg.sender] -= amount;
        totalDeposits -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// @dev THE FLAW: no `onlyRole(DEFAULT_ADMIN_ROLE)`; only the pause stops it.
    function emergencyWithdraw(address to, uint256 amount) external whenNotPaused {
        token.safeTransfer(to, amount);
        emit EmergencyWithdrawal(to, amount);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }
}
